ALTER TABLE `cmdaudit_hosts` ADD `ingest_auth` text;--> statement-breakpoint
ALTER TABLE `servercmdhist` ADD `flags` text DEFAULT '' NOT NULL;