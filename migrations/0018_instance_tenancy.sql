-- An instance keeps its launch's tenancy ("host": on its account's Dedicated Hosts) and the dedicated
-- host it named (null: auto-placement), so that a start after a stop goes back to dedicated hardware.
ALTER TABLE `instances` ADD `tenancy` text DEFAULT 'default' NOT NULL;
--> statement-breakpoint
ALTER TABLE `instances` ADD `host_affinity` text;
