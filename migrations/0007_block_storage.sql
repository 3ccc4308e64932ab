-- Block storage and shared file systems: storage nodes (mirrored from their objects), volumes with
-- their copies and attachments, incremental snapshots, file systems with mount targets and files.
CREATE TABLE `storage_nodes` (
	`id` text PRIMARY KEY NOT NULL,
	`zone` text NOT NULL,
	`rack` text NOT NULL,
	`state` text NOT NULL,
	`version` integer NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `storage_nodes_zone` ON `storage_nodes` (`zone`,`state`);
--> statement-breakpoint
CREATE TABLE `volumes` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`zone` text NOT NULL,
	`volume_type` text NOT NULL,
	`size_gib` integer NOT NULL,
	`iops` integer NOT NULL,
	`throughput_mibps` real NOT NULL,
	`multi_attach` integer NOT NULL,
	`kms_key_id` text NOT NULL,
	`snapshot_id` text,
	`state` text NOT NULL,
	`health` text NOT NULL,
	`write_seq` integer DEFAULT 0 NOT NULL,
	`version` integer NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `volumes_account` ON `volumes` (`account_id`,`id`);
--> statement-breakpoint
CREATE INDEX `volumes_health` ON `volumes` (`health`);
--> statement-breakpoint
CREATE TABLE `volume_replicas` (
	`volume_id` text NOT NULL,
	`node_id` text NOT NULL,
	`rack` text NOT NULL,
	`state` text NOT NULL,
	PRIMARY KEY(`volume_id`, `node_id`)
);
--> statement-breakpoint
CREATE INDEX `volume_replicas_node` ON `volume_replicas` (`node_id`);
--> statement-breakpoint
CREATE TABLE `volume_attachments` (
	`volume_id` text NOT NULL,
	`instance_id` text NOT NULL,
	`device` text NOT NULL,
	`attached_at` integer NOT NULL,
	PRIMARY KEY(`volume_id`, `instance_id`)
);
--> statement-breakpoint
CREATE INDEX `volume_attachments_instance` ON `volume_attachments` (`instance_id`);
--> statement-breakpoint
CREATE TABLE `snapshots` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`volume_id` text NOT NULL,
	`parent_id` text,
	`volume_size_gib` integer NOT NULL,
	`state` text NOT NULL,
	`blocks_stored` integer NOT NULL,
	`blocks_total` integer NOT NULL,
	`start_time` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `snapshots_volume` ON `snapshots` (`volume_id`,`start_time`);
--> statement-breakpoint
CREATE INDEX `snapshots_account` ON `snapshots` (`account_id`,`id`);
--> statement-breakpoint
CREATE TABLE `snapshot_blocks` (
	`snapshot_id` text NOT NULL,
	`n` integer NOT NULL,
	`seq` integer NOT NULL,
	`checksum` text NOT NULL,
	`data` blob NOT NULL,
	PRIMARY KEY(`snapshot_id`, `n`)
);
--> statement-breakpoint
CREATE TABLE `filesystems` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`name` text NOT NULL,
	`state` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `filesystems_account` ON `filesystems` (`account_id`,`id`);
--> statement-breakpoint
CREATE TABLE `mount_targets` (
	`id` text PRIMARY KEY NOT NULL,
	`filesystem_id` text NOT NULL,
	`zone` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `mount_targets_zone` ON `mount_targets` (`filesystem_id`,`zone`);
--> statement-breakpoint
CREATE TABLE `fs_files` (
	`filesystem_id` text NOT NULL,
	`path` text NOT NULL,
	`data` blob NOT NULL,
	`version` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`filesystem_id`, `path`)
);
--> statement-breakpoint
CREATE TABLE `fs_handles` (
	`id` text PRIMARY KEY NOT NULL,
	`filesystem_id` text NOT NULL,
	`instance_id` text NOT NULL,
	`path` text NOT NULL,
	`mode` text NOT NULL,
	`base_version` integer NOT NULL,
	`data` blob NOT NULL,
	`dirty` integer NOT NULL,
	`opened_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `fs_handles_fs` ON `fs_handles` (`filesystem_id`);
