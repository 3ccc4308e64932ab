CREATE TABLE `network_acls` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`vpc_id` text NOT NULL,
	`is_default` integer NOT NULL,
	`client_token` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `network_acls_client_token` ON `network_acls` (`account_id`,`client_token`);--> statement-breakpoint
CREATE INDEX `network_acls_account` ON `network_acls` (`account_id`,`id`);--> statement-breakpoint
CREATE INDEX `network_acls_vpc` ON `network_acls` (`vpc_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `network_acls_default` ON `network_acls` (`vpc_id`) WHERE "network_acls"."is_default" = 1;--> statement-breakpoint
CREATE TABLE `network_acl_entries` (
	`acl_id` text NOT NULL,
	`account_id` text NOT NULL,
	`direction` text NOT NULL,
	`rule_number` integer NOT NULL,
	`protocol` text NOT NULL,
	`from_port` integer NOT NULL,
	`to_port` integer NOT NULL,
	`cidr` text NOT NULL,
	`action` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`acl_id`, `direction`, `rule_number`)
);
--> statement-breakpoint
CREATE TABLE `network_acl_associations` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`subnet_id` text NOT NULL,
	`acl_id` text NOT NULL,
	`vpc_id` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `network_acl_associations_subnet` ON `network_acl_associations` (`subnet_id`);--> statement-breakpoint
CREATE INDEX `network_acl_associations_acl` ON `network_acl_associations` (`acl_id`);--> statement-breakpoint
CREATE TABLE `placement_groups` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`name` text NOT NULL,
	`strategy` text NOT NULL,
	`partition_count` integer,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `placement_groups_name` ON `placement_groups` (`account_id`,`name`);--> statement-breakpoint
ALTER TABLE `instances` ADD `placement_group_id` text;--> statement-breakpoint
ALTER TABLE `instances` ADD `placement_group_name` text;--> statement-breakpoint
ALTER TABLE `instances` ADD `placement_partition` integer;--> statement-breakpoint
CREATE INDEX `instances_placement_group` ON `instances` (`placement_group_id`);
