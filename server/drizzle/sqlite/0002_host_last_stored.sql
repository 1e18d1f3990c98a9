ALTER TABLE `cmdaudit_hosts` ADD `last_stored_us` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
-- Before this column the last batch was the only time known: the best start for hosts already reporting.
UPDATE `cmdaudit_hosts` SET `last_stored_us` = `last_received_us`;
