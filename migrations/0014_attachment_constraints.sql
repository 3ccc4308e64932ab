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
