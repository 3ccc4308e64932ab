-- Metrics, alarms, webhook subscriptions and their deliveries (src/db/schema.ts); events gain
-- the wall time they were logged at and, for events about neither an instance nor a host,
-- the resource they are about.
ALTER TABLE `events` ADD `wall_time` integer;--> statement-breakpoint
ALTER TABLE `events` ADD `resource_id` text;--> statement-breakpoint
CREATE INDEX `events_resource` ON `events` (`resource_id`);--> statement-breakpoint
CREATE INDEX `events_time` ON `events` (`time`);--> statement-breakpoint
CREATE TABLE `metric_samples` (
	`series` text NOT NULL,
	`time` integer NOT NULL,
	`account_id` text,
	`metric` text NOT NULL,
	`dims` text NOT NULL,
	`value` real NOT NULL,
	PRIMARY KEY(`series`, `time`)
);
--> statement-breakpoint
CREATE INDEX `metric_samples_metric` ON `metric_samples` (`metric`,`time`);--> statement-breakpoint
CREATE INDEX `metric_samples_time` ON `metric_samples` (`time`);--> statement-breakpoint
CREATE TABLE `metric_rollups` (
	`series` text NOT NULL,
	`period` integer NOT NULL,
	`bucket` integer NOT NULL,
	`account_id` text,
	`metric` text NOT NULL,
	`dims` text NOT NULL,
	`count` integer NOT NULL,
	`sum` real NOT NULL,
	`min` real NOT NULL,
	`max` real NOT NULL,
	PRIMARY KEY(`series`, `period`, `bucket`)
);
--> statement-breakpoint
CREATE INDEX `metric_rollups_metric` ON `metric_rollups` (`metric`,`period`,`bucket`);--> statement-breakpoint
CREATE INDEX `metric_rollups_bucket` ON `metric_rollups` (`period`,`bucket`);--> statement-breakpoint
CREATE TABLE `alarms` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`name` text NOT NULL,
	`metric` text NOT NULL,
	`dims` text NOT NULL,
	`statistic` text NOT NULL,
	`period` integer NOT NULL,
	`evaluation_periods` integer NOT NULL,
	`datapoints_to_alarm` integer NOT NULL,
	`threshold` real NOT NULL,
	`comparison` text NOT NULL,
	`treat_missing` text NOT NULL,
	`state` text NOT NULL,
	`state_reason` text NOT NULL,
	`state_time` integer NOT NULL,
	`evaluated_to` integer,
	`created_at` integer NOT NULL,
	`version` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `alarms_account_name` ON `alarms` (`account_id`,`name`);--> statement-breakpoint
CREATE INDEX `alarms_metric` ON `alarms` (`metric`);--> statement-breakpoint
CREATE TABLE `subscriptions` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`url` text NOT NULL,
	`event_types` text NOT NULL,
	`resource_ids` text,
	`enabled` integer NOT NULL,
	`disabled_reason` text,
	`secrets` text NOT NULL,
	`failing_since` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `subscriptions_account` ON `subscriptions` (`account_id`,`id`);--> statement-breakpoint
CREATE TABLE `deliveries` (
	`id` text PRIMARY KEY NOT NULL,
	`subscription_id` text NOT NULL,
	`account_id` text NOT NULL,
	`event_id` text NOT NULL,
	`event_type` text NOT NULL,
	`event_time` integer NOT NULL,
	`event_seq` integer NOT NULL,
	`body` text NOT NULL,
	`status` text NOT NULL,
	`attempts` integer NOT NULL,
	`round_start` integer DEFAULT 0 NOT NULL,
	`lease_until` integer,
	`last_status` integer,
	`last_error` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `deliveries_subscription_event` ON `deliveries` (`subscription_id`,`event_id`);--> statement-breakpoint
CREATE INDEX `deliveries_subscription` ON `deliveries` (`subscription_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `delivery_attempts` (
	`delivery_id` text NOT NULL,
	`attempt` integer NOT NULL,
	`at` integer NOT NULL,
	`status_code` integer,
	`latency_ms` integer NOT NULL,
	`excerpt` text,
	`error` text,
	PRIMARY KEY(`delivery_id`, `attempt`)
);
