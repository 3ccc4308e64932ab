-- Live migrations (fleet/migrations.ts): one row per migration, changed only by conditional steps.
CREATE TABLE `migrations` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text,
	`instance_id` text NOT NULL,
	`source_host_id` text NOT NULL,
	`destination_host_id` text,
	`requested_destination` integer DEFAULT 0 NOT NULL,
	`status` text NOT NULL,
	`step` text NOT NULL,
	`params` text NOT NULL,
	`report` text,
	`reason` text,
	`evacuation_id` text,
	`version` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `migrations_account` ON `migrations` (`account_id`,`id`);
--> statement-breakpoint
CREATE INDEX `migrations_instance` ON `migrations` (`instance_id`);
--> statement-breakpoint
CREATE INDEX `migrations_evacuation` ON `migrations` (`evacuation_id`);
--> statement-breakpoint
CREATE UNIQUE INDEX `migrations_one_open` ON `migrations` (`instance_id`) WHERE `step` <> 'done';
--> statement-breakpoint
-- Host evacuations (fleet/evacuations.ts): the migrations carry the evacuation's id; what could not move is kept here.
CREATE TABLE `evacuations` (
	`id` text PRIMARY KEY NOT NULL,
	`host_id` text NOT NULL,
	`skipped` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `evacuations_host` ON `evacuations` (`host_id`);
--> statement-breakpoint
-- Scheduled events on instances (fleet/scheduled-events.ts), as EC2's DescribeInstanceStatus lists them.
CREATE TABLE `scheduled_events` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text,
	`instance_id` text NOT NULL,
	`code` text NOT NULL,
	`description` text NOT NULL,
	`not_before` integer NOT NULL,
	`not_after` integer NOT NULL,
	`state` text NOT NULL,
	`outcome` text,
	`migration_id` text,
	`created_at` integer NOT NULL,
	`acted_at` integer
);
--> statement-breakpoint
CREATE INDEX `scheduled_events_instance` ON `scheduled_events` (`instance_id`);
--> statement-breakpoint
CREATE INDEX `scheduled_events_due` ON `scheduled_events` (`state`,`not_before`);
