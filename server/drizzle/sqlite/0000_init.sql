CREATE TABLE `cmdaudit_hosts` (
	`hostname` text PRIMARY KEY NOT NULL,
	`server_ips` text DEFAULT '' NOT NULL,
	`first_seen_us` integer NOT NULL,
	`last_seen_us` integer NOT NULL,
	`last_received_us` integer DEFAULT 0 NOT NULL,
	`records` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE `servercmdhist` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`oci` text NOT NULL,
	`hostname` text NOT NULL,
	`serverIps` text,
	`ctime` text NOT NULL,
	`luser` text NOT NULL,
	`suser` text,
	`terminal` text,
	`clientIp` text NOT NULL,
	`command` text NOT NULL,
	`kind` text DEFAULT 'command' NOT NULL,
	`ts_us` integer DEFAULT 0 NOT NULL,
	`utc_offset` integer,
	`session_id` text,
	`seq` integer,
	`cwd` text,
	`exit_status` integer,
	`command_raw` blob,
	`received_us` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `oci` ON `servercmdhist` (`oci`);--> statement-breakpoint
CREATE INDEX `hostname_ts` ON `servercmdhist` (`hostname`,`ts_us`);--> statement-breakpoint
CREATE INDEX `luser_ts` ON `servercmdhist` (`luser`,`ts_us`);--> statement-breakpoint
CREATE INDEX `suser_ts` ON `servercmdhist` (`suser`,`ts_us`);--> statement-breakpoint
CREATE INDEX `clientip_ts` ON `servercmdhist` (`clientIp`,`ts_us`);--> statement-breakpoint
CREATE INDEX `session_seq` ON `servercmdhist` (`session_id`,`seq`);--> statement-breakpoint
CREATE INDEX `ts` ON `servercmdhist` (`ts_us`);