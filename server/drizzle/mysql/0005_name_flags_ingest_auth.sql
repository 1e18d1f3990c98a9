ALTER TABLE `cmdaudit_hosts` ADD `ingest_auth` varchar(16);--> statement-breakpoint
ALTER TABLE `servercmdhist` ADD `flags` varchar(255) DEFAULT '' NOT NULL;