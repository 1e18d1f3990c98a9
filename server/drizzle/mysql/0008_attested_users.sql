ALTER TABLE `servercmdhist` ADD `attested_user` varchar(64);--> statement-breakpoint
ALTER TABLE `servercmdhist` ADD `attested_login_user` varchar(64);