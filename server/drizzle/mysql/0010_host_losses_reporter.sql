ALTER TABLE `cmdaudit_hosts` ADD `losses` bigint unsigned DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `cmdaudit_hosts` ADD `rejected` bigint unsigned DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `cmdaudit_hosts` ADD `reporter` varchar(64);--> statement-breakpoint
-- Hosts already reporting: their stored loss records counted once (one pass over each host's rows by its index).
UPDATE `cmdaudit_hosts` h SET `losses` = (SELECT COUNT(*) FROM `servercmdhist` c WHERE c.`hostname` = h.`hostname` AND c.`kind` = 'loss');
