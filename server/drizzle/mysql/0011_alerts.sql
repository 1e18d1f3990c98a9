-- utf8mb4 with a binary collation, as every cmdaudit table.
CREATE TABLE `cmdaudit_alert_outbox` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`channel` varchar(64) NOT NULL,
	`group_key` char(32) NOT NULL,
	`alert_id` bigint unsigned NOT NULL,
	`kind` varchar(8) NOT NULL,
	`count` int unsigned NOT NULL DEFAULT 1,
	`sent_count` int unsigned NOT NULL DEFAULT 0,
	`window_end_us` bigint NOT NULL,
	`state` varchar(8) NOT NULL DEFAULT 'pending',
	`attempts` int unsigned NOT NULL DEFAULT 0,
	`next_attempt_us` bigint NOT NULL,
	`last_error` varchar(255) NOT NULL DEFAULT '',
	`sent_us` bigint NOT NULL DEFAULT 0,
	`settled` tinyint NOT NULL DEFAULT 0,
	CONSTRAINT `cmdaudit_alert_outbox_id` PRIMARY KEY(`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
--> statement-breakpoint
CREATE TABLE `cmdaudit_alert_rules` (
	`id` varchar(64) NOT NULL,
	`body` text NOT NULL,
	`updated_us` bigint NOT NULL,
	CONSTRAINT `cmdaudit_alert_rules_id` PRIMARY KEY(`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
--> statement-breakpoint
CREATE TABLE `cmdaudit_alerts` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`rule_id` varchar(64) NOT NULL,
	`severity` varchar(16) NOT NULL,
	`hostname` varchar(255) NOT NULL,
	`luser` varchar(64) NOT NULL,
	`suser` varchar(64) NOT NULL,
	`record_key` char(32) NOT NULL,
	`record_ts_us` bigint NOT NULL,
	`session_id` varchar(64),
	`seq` bigint unsigned,
	`command` text NOT NULL,
	`raised_us` bigint NOT NULL,
	CONSTRAINT `cmdaudit_alerts_id` PRIMARY KEY(`id`),
	CONSTRAINT `alerts_rule_record` UNIQUE(`rule_id`,`record_key`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
--> statement-breakpoint
ALTER TABLE `cmdaudit_hosts` ADD `cadence_us` bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `outbox_due` ON `cmdaudit_alert_outbox` (`state`,`next_attempt_us`);--> statement-breakpoint
CREATE INDEX `outbox_group` ON `cmdaudit_alert_outbox` (`group_key`,`window_end_us`);--> statement-breakpoint
CREATE INDEX `outbox_settle` ON `cmdaudit_alert_outbox` (`settled`,`window_end_us`);--> statement-breakpoint
CREATE INDEX `alerts_raised` ON `cmdaudit_alerts` (`raised_us`);--> statement-breakpoint
CREATE INDEX `alerts_host_raised` ON `cmdaudit_alerts` (`hostname`,`raised_us`);