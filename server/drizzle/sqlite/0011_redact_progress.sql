CREATE TABLE `cmdaudit_redact_progress` (
	`job` text PRIMARY KEY NOT NULL,
	`rules` text NOT NULL,
	`last_id` integer NOT NULL,
	`end_id` integer NOT NULL,
	`seen` integer DEFAULT 0 NOT NULL,
	`changed` integer DEFAULT 0 NOT NULL,
	`started_us` integer NOT NULL,
	`updated_us` integer NOT NULL,
	`finished_us` integer DEFAULT 0 NOT NULL
);
