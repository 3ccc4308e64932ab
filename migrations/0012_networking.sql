CREATE TABLE `vpcs` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`cidr` text NOT NULL,
	`vni` integer NOT NULL,
	`is_default` integer NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `vpcs_vni_unique` ON `vpcs` (`vni`);--> statement-breakpoint
CREATE INDEX `vpcs_account` ON `vpcs` (`account_id`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `vpcs_default` ON `vpcs` (`account_id`) WHERE "vpcs"."is_default" = 1;--> statement-breakpoint
CREATE TABLE `subnets` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`vpc_id` text NOT NULL,
	`zone` text NOT NULL,
	`cidr` text NOT NULL,
	`is_default` integer NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `subnets_account` ON `subnets` (`account_id`,`id`);--> statement-breakpoint
CREATE INDEX `subnets_vpc` ON `subnets` (`vpc_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `subnets_default` ON `subnets` (`vpc_id`,`zone`) WHERE "subnets"."is_default" = 1;--> statement-breakpoint
CREATE UNIQUE INDEX `subnets_block` ON `subnets` (`vpc_id`,`cidr`);--> statement-breakpoint
CREATE TABLE `network_interfaces` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`subnet_id` text NOT NULL,
	`vpc_id` text NOT NULL,
	`zone` text NOT NULL,
	`instance_id` text NOT NULL,
	`mac_address` text NOT NULL,
	`private_ip` text NOT NULL,
	`ip` integer NOT NULL,
	`security_group_ids` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `network_interfaces_address` ON `network_interfaces` (`subnet_id`,`ip`);--> statement-breakpoint
CREATE UNIQUE INDEX `network_interfaces_instance` ON `network_interfaces` (`instance_id`);--> statement-breakpoint
CREATE INDEX `network_interfaces_account` ON `network_interfaces` (`account_id`,`id`);--> statement-breakpoint
CREATE INDEX `network_interfaces_vpc_ip` ON `network_interfaces` (`vpc_id`,`ip`);--> statement-breakpoint
CREATE TABLE `security_groups` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`vpc_id` text NOT NULL,
	`name` text NOT NULL,
	`description` text NOT NULL,
	`is_default` integer NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `security_groups_account` ON `security_groups` (`account_id`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `security_groups_name` ON `security_groups` (`vpc_id`,`name`);--> statement-breakpoint
CREATE TABLE `security_group_rules` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`group_id` text NOT NULL,
	`direction` text NOT NULL,
	`protocol` text NOT NULL,
	`from_port` integer NOT NULL,
	`to_port` integer NOT NULL,
	`cidr` text,
	`peer_group_id` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `security_group_rules_group` ON `security_group_rules` (`group_id`);--> statement-breakpoint
CREATE TABLE `vpc_peerings` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`requester_vpc_id` text NOT NULL,
	`accepter_vpc_id` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `vpc_peerings_pair` ON `vpc_peerings` (`requester_vpc_id`,`accepter_vpc_id`);--> statement-breakpoint
CREATE INDEX `vpc_peerings_accepter` ON `vpc_peerings` (`accepter_vpc_id`);
--> statement-breakpoint
CREATE TABLE `network_events` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`account_id` text NOT NULL,
	`type` text NOT NULL,
	`time` integer NOT NULL,
	`network_interface_id` text NOT NULL,
	`instance_id` text NOT NULL,
	`private_ip` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `network_events_id_unique` ON `network_events` (`id`);--> statement-breakpoint
CREATE INDEX `network_events_account` ON `network_events` (`account_id`,`seq`);--> statement-breakpoint
CREATE INDEX `network_events_instance` ON `network_events` (`instance_id`);
