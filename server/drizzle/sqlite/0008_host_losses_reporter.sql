ALTER TABLE `cmdaudit_hosts` ADD `losses` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `cmdaudit_hosts` ADD `rejected` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `cmdaudit_hosts` ADD `reporter` text;--> statement-breakpoint
-- Hosts already reporting: their stored loss records counted once.
UPDATE `cmdaudit_hosts` SET `losses` = (SELECT COUNT(*) FROM `servercmdhist` c WHERE c.`hostname` = `cmdaudit_hosts`.`hostname` AND c.`kind` = 'loss');
