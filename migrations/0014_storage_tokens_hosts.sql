-- One volume per device of an instance, and one attachment per volume unless it is Multi-Attach (then 16
-- at most): held by D1 itself, so two attaches that raced past the service's checks cannot both land.
CREATE UNIQUE INDEX `volume_attachments_device` ON `volume_attachments` (`instance_id`, `device`);
--> statement-breakpoint
CREATE TRIGGER `volume_attachments_single`
BEFORE INSERT ON `volume_attachments`
WHEN (SELECT `multi_attach` FROM `volumes` WHERE `id` = NEW.`volume_id`) = 0
  AND EXISTS (SELECT 1 FROM `volume_attachments` WHERE `volume_id` = NEW.`volume_id`)
BEGIN
  SELECT RAISE(ABORT, 'volume_attachments: the volume is attached and not Multi-Attach');
END;
--> statement-breakpoint
CREATE TRIGGER `volume_attachments_multi_max`
BEFORE INSERT ON `volume_attachments`
WHEN (SELECT count(*) FROM `volume_attachments` WHERE `volume_id` = NEW.`volume_id`) >= 16
BEGIN
  SELECT RAISE(ABORT, 'volume_attachments: a Multi-Attach volume attaches to 16 instances at most');
END;
--> statement-breakpoint
-- Client tokens of calls that make one resource (CreateVolume, AllocateHosts): the token, per account and
-- kind, names the resource its first call made and the parameters it was made with.
CREATE TABLE `resource_tokens` (
	`account_id` text NOT NULL,
	`kind` text NOT NULL,
	`token` text NOT NULL,
	`params_hash` text NOT NULL,
	`resource_id` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`account_id`, `kind`, `token`)
);
--> statement-breakpoint
-- Dedicated hosts (EC2's AllocateHosts): a fleet host an account has taken for its own instances alone.
-- The host object is the judge of what it admits (host/tenancy.ts); this is the inventory.
CREATE TABLE `dedicated_hosts` (
	`host_id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`zone` text NOT NULL,
	`family` text NOT NULL,
	`auto_placement` text NOT NULL,
	`allocated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `dedicated_hosts_account` ON `dedicated_hosts` (`account_id`, `zone`, `family`);
