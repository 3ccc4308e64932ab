CREATE TABLE `client_tokens` (
	`token` text PRIMARY KEY NOT NULL,
	`params_hash` text NOT NULL,
	`status` text NOT NULL,
	`reservation_id` text NOT NULL,
	`instance_ids` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `events` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`type` text NOT NULL,
	`time` integer NOT NULL,
	`host_id` text,
	`instance_id` text,
	`state` text NOT NULL,
	`previous_state` text,
	`body` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `events_id_unique` ON `events` (`id`);--> statement-breakpoint
CREATE INDEX `events_instance` ON `events` (`instance_id`);--> statement-breakpoint
CREATE INDEX `events_type` ON `events` (`type`);--> statement-breakpoint
CREATE TABLE `hosts` (
	`id` text PRIMARY KEY NOT NULL,
	`zone` text NOT NULL,
	`rack` text NOT NULL,
	`family` text NOT NULL,
	`hypervisor` text NOT NULL,
	`state` text NOT NULL,
	`sockets` integer NOT NULL,
	`cores_per_socket` integer NOT NULL,
	`threads_per_core` integer NOT NULL,
	`memory_mib` integer NOT NULL,
	`reserved_threads` integer NOT NULL,
	`reserved_memory_mib` integer NOT NULL,
	`nvme_gb` integer NOT NULL,
	`used_vcpus` integer NOT NULL,
	`free_vcpus` integer NOT NULL,
	`used_memory_mib` integer NOT NULL,
	`free_memory_mib` integer NOT NULL,
	`used_nvme_gb` integer NOT NULL,
	`free_nvme_gb` integer NOT NULL,
	`vm_count` integer NOT NULL,
	`usage_version` integer NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `hosts_family_zone` ON `hosts` (`family`,`zone`,`state`);--> statement-breakpoint
CREATE TABLE `instances` (
	`id` text PRIMARY KEY NOT NULL,
	`reservation_id` text NOT NULL,
	`instance_type` text NOT NULL,
	`family` text NOT NULL,
	`hypervisor` text NOT NULL,
	`zone` text NOT NULL,
	`host_id` text,
	`state` text NOT NULL,
	`state_code` integer NOT NULL,
	`version` integer NOT NULL,
	`launch_time` integer NOT NULL,
	`state_transition_time` integer NOT NULL,
	`state_reason` text NOT NULL,
	`client_token` text,
	`tags` text NOT NULL,
	`workload` text NOT NULL,
	`placement_strategy` text NOT NULL,
	`vcpus` integer NOT NULL,
	`memory_mib` integer NOT NULL,
	`nvme_gb` integer NOT NULL,
	`threads` text NOT NULL,
	`terminated_at` integer,
	`claim` text,
	`claim_expires` integer
);
--> statement-breakpoint
CREATE INDEX `instances_state` ON `instances` (`state`);--> statement-breakpoint
CREATE INDEX `instances_host` ON `instances` (`host_id`);--> statement-breakpoint
CREATE INDEX `instances_zone` ON `instances` (`zone`);--> statement-breakpoint
CREATE INDEX `instances_type` ON `instances` (`instance_type`);--> statement-breakpoint
CREATE TABLE `sim_clock` (
	`id` integer PRIMARY KEY NOT NULL,
	`mode` text NOT NULL,
	`anchor_wall_ms` integer NOT NULL,
	`anchor_sim_ms` integer NOT NULL,
	`scale` real NOT NULL
);
