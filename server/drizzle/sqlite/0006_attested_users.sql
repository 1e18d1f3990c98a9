ALTER TABLE `servercmdhist` ADD `attested_user` text;--> statement-breakpoint
ALTER TABLE `servercmdhist` ADD `attested_login_user` text;