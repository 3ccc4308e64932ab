PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_client_tokens` (
	`account_id` text DEFAULT '' NOT NULL,
	`token` text NOT NULL,
	`params_hash` text NOT NULL,
	`status` text NOT NULL,
	`reservation_id` text NOT NULL,
	`instance_ids` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`account_id`, `token`)
);
--> statement-breakpoint
-- Edited after generation: the old table has no account_id to copy; its tokens belong to no account.
INSERT INTO `__new_client_tokens`("account_id", "token", "params_hash", "status", "reservation_id", "instance_ids", "created_at") SELECT '', "token", "params_hash", "status", "reservation_id", "instance_ids", "created_at" FROM `client_tokens`;--> statement-breakpoint
DROP TABLE `client_tokens`;--> statement-breakpoint
ALTER TABLE `__new_client_tokens` RENAME TO `client_tokens`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
ALTER TABLE `events` ADD `account_id` text;--> statement-breakpoint
CREATE INDEX `events_account` ON `events` (`account_id`,`seq`);--> statement-breakpoint
ALTER TABLE `instances` ADD `account_id` text;--> statement-breakpoint
CREATE INDEX `instances_account` ON `instances` (`account_id`,`id`);