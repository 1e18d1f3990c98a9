-- utf8mb4 with a binary collation, as every cmdaudit table: names and searched text in any script, compared exactly.
CREATE TABLE `cmdaudit_console_access` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`ts_us` bigint NOT NULL,
	`user_name` varchar(64) NOT NULL,
	`action` varchar(32) NOT NULL,
	`detail` text NOT NULL,
	`client_ip` varchar(64) NOT NULL DEFAULT '',
	CONSTRAINT `cmdaudit_console_access_id` PRIMARY KEY(`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
--> statement-breakpoint
CREATE TABLE `cmdaudit_console_sessions` (
	`id_hash` char(64) NOT NULL,
	`user_name` varchar(64) NOT NULL,
	`created_us` bigint NOT NULL,
	`expires_us` bigint NOT NULL,
	CONSTRAINT `cmdaudit_console_sessions_id_hash` PRIMARY KEY(`id_hash`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
--> statement-breakpoint
CREATE TABLE `cmdaudit_console_users` (
	`name` varchar(64) NOT NULL,
	`password_hash` varchar(255) NOT NULL,
	`role` varchar(16) NOT NULL,
	`host_groups` varchar(2048) NOT NULL DEFAULT '',
	`created_us` bigint NOT NULL,
	CONSTRAINT `cmdaudit_console_users_name` PRIMARY KEY(`name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
--> statement-breakpoint
CREATE INDEX `console_access_ts` ON `cmdaudit_console_access` (`ts_us`);--> statement-breakpoint
CREATE INDEX `console_sessions_user` ON `cmdaudit_console_sessions` (`user_name`);