-- redact-history's progress; utf8mb4 with a binary collation, as every cmdaudit table.
CREATE TABLE `cmdaudit_redact_progress` (
	`job` varchar(32) NOT NULL,
	`rules` char(64) NOT NULL,
	`last_id` bigint unsigned NOT NULL,
	`end_id` bigint unsigned NOT NULL,
	`seen` bigint unsigned NOT NULL DEFAULT 0,
	`changed` bigint unsigned NOT NULL DEFAULT 0,
	`started_us` bigint NOT NULL,
	`updated_us` bigint NOT NULL,
	`finished_us` bigint NOT NULL DEFAULT 0,
	CONSTRAINT `cmdaudit_redact_progress_job` PRIMARY KEY(`job`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
