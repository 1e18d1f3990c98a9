CREATE TABLE `cmdaudit_alert_outbox` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`channel` text NOT NULL,
	`group_key` text NOT NULL,
	`alert_id` integer NOT NULL,
	`kind` text NOT NULL,
	`count` integer DEFAULT 1 NOT NULL,
	`sent_count` integer DEFAULT 0 NOT NULL,
	`window_end_us` integer NOT NULL,
	`state` text DEFAULT 'pending' NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_us` integer NOT NULL,
	`last_error` text DEFAULT '' NOT NULL,
	`sent_us` integer DEFAULT 0 NOT NULL,
	`settled` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE INDEX `outbox_due` ON `cmdaudit_alert_outbox` (`state`,`next_attempt_us`);--> statement-breakpoint
CREATE INDEX `outbox_group` ON `cmdaudit_alert_outbox` (`group_key`,`window_end_us`);--> statement-breakpoint
CREATE INDEX `outbox_settle` ON `cmdaudit_alert_outbox` (`settled`,`window_end_us`);--> statement-breakpoint
CREATE TABLE `cmdaudit_alert_rules` (
	`id` text PRIMARY KEY NOT NULL,
	`body` text NOT NULL,
	`updated_us` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `cmdaudit_alerts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`rule_id` text NOT NULL,
	`severity` text NOT NULL,
	`hostname` text NOT NULL,
	`luser` text NOT NULL,
	`suser` text NOT NULL,
	`record_key` text NOT NULL,
	`record_ts_us` integer NOT NULL,
	`session_id` text,
	`seq` integer,
	`command` text NOT NULL,
	`raised_us` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `alerts_rule_record` ON `cmdaudit_alerts` (`rule_id`,`record_key`);--> statement-breakpoint
CREATE INDEX `alerts_raised` ON `cmdaudit_alerts` (`raised_us`);--> statement-breakpoint
CREATE INDEX `alerts_host_raised` ON `cmdaudit_alerts` (`hostname`,`raised_us`);--> statement-breakpoint
ALTER TABLE `cmdaudit_hosts` ADD `cadence_us` integer DEFAULT 0 NOT NULL;