-- Live migrations decide by simulated time (fleet/migration-steps.ts): when the pre-copy started,
-- when the guest resumes on the destination, and when post-copy's last page arrives.
ALTER TABLE `migrations` ADD `started_at` integer;
--> statement-breakpoint
ALTER TABLE `migrations` ADD `switch_at` integer;
--> statement-breakpoint
ALTER TABLE `migrations` ADD `last_page_at` integer;
--> statement-breakpoint
-- An evacuation names every instance that was on its host when it began, so it can say of each
-- whether it moved, and why not; `state` is starting until every one has a migration or a reason.
ALTER TABLE `evacuations` ADD `instance_ids` text DEFAULT '[]' NOT NULL;
--> statement-breakpoint
ALTER TABLE `evacuations` ADD `state` text DEFAULT 'started' NOT NULL;
--> statement-breakpoint
CREATE INDEX `migrations_open_step` ON `migrations` (`step`);
--> statement-breakpoint
CREATE INDEX `scheduled_events_acting` ON `scheduled_events` (`state`,`acted_at`);
