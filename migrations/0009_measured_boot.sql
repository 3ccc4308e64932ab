-- Measured boot: the allow-list of known-good boot stage digests (SHA-384), seeded with this
-- release's images (sim/security/measured-boot.ts; test/sim/security/boot.test.ts checks the
-- rows against the code), and each host's latest attestation verdict.
CREATE TABLE `boot_allow_list` (
	`stage` text NOT NULL,
	`digest` text NOT NULL,
	`description` text NOT NULL,
	`added_at` integer NOT NULL,
	PRIMARY KEY(`stage`, `digest`)
);
--> statement-breakpoint
CREATE TABLE `host_attestations` (
	`host_id` text PRIMARY KEY NOT NULL,
	`status` text NOT NULL,
	`pcr` text NOT NULL,
	`expected_config` text NOT NULL,
	`findings` text NOT NULL,
	`attested_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `host_attestations_status` ON `host_attestations` (`status`);
--> statement-breakpoint
INSERT INTO `boot_allow_list` (`stage`, `digest`, `description`, `added_at`) VALUES
  ('firmware', 'b5af742534b101db047929e888e4c78e92faa0b711117326408691924de0108b30718bb13ecf9334dd2ecf8e85eb7cfb', 'nitro-uefi 2026.10.1', 0),
  ('nitro-security-chip', '4c184ccee834e4acc0830876d20a74bbdb32f8dcf2bfaebebbbf6e5829f2ee59d89521c8f3678048946ccbe0dd5314d9', 'nitro-security-chip-firmware 5.3.0', 0),
  ('hypervisor', 'e827fb05996fbd3a39cd3d29850af9ff4c3ac3fb441179dc491f147112f2ba2d25ce1f27cbfa3461c44832fecd2c7dae', 'nitro-hypervisor 2026.11.0', 0),
  ('firmware', '7fbefd3df6cd6ec98d9eb6fd33ddec196af6acd056ee1b9a4e9d1bf23157cb441cdc7400f1a2e3f504bd478925856449', 'xen-host-bios 4.2.7', 0),
  ('xen', 'a302cd37eed6eb5a46ec00ddaa6a14a1ca9b8b9779f0c1d2165aac977e31d905f03e88437bf3df00f2bc4ae11d532c53', 'xen 4.11.4', 0),
  ('hypervisor', 'dce3ecfcea5615a3af764e60653824cc0ef5d9ac6eaa42a670ba43ddc337fc318d15e0452d81168faca5ba4254121b9e', 'dom0-linux-toolstack 4.14.355', 0),
  ('firmware', '359fec8fb4a0ca812bf97b0e341894088d321c62227bed013a1ef9942412dc0ff69b06bfdf6f76325ab78a625baf8176', 'hosted-uefi 2026.10.1', 0),
  ('host-os', '74b9ad33ed6033d009196b0b3ed554c184fa612bfc13259ef926a4658cd51b5b35145e254cd3c5202a2bdec95d9c3355', 'linux-host 6.12.58', 0),
  ('hypervisor', 'ef3bfd8c8d52f8dbf6707dcced541350f34cdf29b6006775641b0a9fd7e09cf80aae272dfeb269b42a2c736666fb2b99', 'hosted-vmm 10.1.2', 0);
