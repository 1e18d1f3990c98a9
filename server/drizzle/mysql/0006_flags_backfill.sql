CREATE TABLE `cmdaudit_flags_backfill` (
	`next_id` bigint unsigned NOT NULL,
	`last_id` bigint unsigned NOT NULL
);--> statement-breakpoint
-- The rows stored before 0005 added `flags` ('' there): the server flags ids up to this one at start.
INSERT INTO `cmdaudit_flags_backfill` (`next_id`, `last_id`) SELECT 0, `id` FROM `servercmdhist` ORDER BY `id` DESC LIMIT 1;
