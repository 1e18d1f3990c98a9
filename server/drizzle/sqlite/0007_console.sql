CREATE TABLE `cmdaudit_console_access` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`ts_us` integer NOT NULL,
	`user_name` text NOT NULL,
	`action` text NOT NULL,
	`detail` text NOT NULL,
	`client_ip` text DEFAULT '' NOT NULL
);
--> statement-breakpoint
CREATE INDEX `console_access_ts` ON `cmdaudit_console_access` (`ts_us`);--> statement-breakpoint
CREATE TABLE `cmdaudit_console_sessions` (
	`id_hash` text PRIMARY KEY NOT NULL,
	`user_name` text NOT NULL,
	`created_us` integer NOT NULL,
	`expires_us` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `console_sessions_user` ON `cmdaudit_console_sessions` (`user_name`);--> statement-breakpoint
CREATE TABLE `cmdaudit_console_users` (
	`name` text PRIMARY KEY NOT NULL,
	`password_hash` text NOT NULL,
	`role` text NOT NULL,
	`host_groups` text DEFAULT '' NOT NULL,
	`created_us` integer NOT NULL
);
