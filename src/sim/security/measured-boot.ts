// Measured boot: each stage of a host's boot is hashed before it runs and folded into a chain, as a
// TPM extends a PCR (TCG PC Client Platform Firmware Profile: PCR_new = H(PCR_old || H(stage))), with
// SHA-384 as the Nitro Security Module's PCRs use (AWS Nitro Enclaves User Guide, "Cryptographic
// attestation"). The images are the model's: each a manifest of what the stage is, so a changed
// byte anywhere changes its digest and every link after it.
import type { HostHypervisor } from "../catalog";
import type { Optimizations } from "../cpu";

export const BOOT_STAGES = [
  "firmware",
  "nitro-security-chip",
  "xen",
  "host-os",
  "hypervisor",
  "config",
] as const;
export type BootStage = (typeof BOOT_STAGES)[number];

export interface BootImage {
  stage: BootStage;
  name: string;
  version: string;
  bytes: Uint8Array;
}

export interface BootMeasurement {
  stage: BootStage;
  name: string;
  version: string;
  /** SHA-384 of the stage's image, hex. */
  digest: string;
  /** The chain after this stage was folded in, hex. */
  pcr: string;
}

export interface BootRecord {
  /** Simulated time of the boot that was measured. */
  measuredAt: number;
  measurements: BootMeasurement[];
  /** The chain after the last stage: what an attestation document carries. */
  pcr: string;
}

const text = new TextEncoder();
export const toHex = (b: ArrayBuffer | Uint8Array) =>
  Array.from(b instanceof Uint8Array ? b : new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join(
    "",
  );
const fromHex = (h: string) => Uint8Array.from(h.match(/../g) ?? [], (x) => Number.parseInt(x, 16));

export async function sha384(bytes: Uint8Array): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-384", bytes));
}

/** The chain's starting value: 48 zero bytes, as a PCR after reset. */
export const PCR_RESET = "0".repeat(96);

/** One link: H(pcr || digest). */
export async function extend(pcr: string, digest: string): Promise<string> {
  const buf = new Uint8Array(96);
  buf.set(fromHex(pcr), 0);
  buf.set(fromHex(digest), 48);
  return sha384(buf);
}

/** The stages a host of this hypervisor boots, in order, config last. */
export function bootStages(hypervisor: HostHypervisor): BootStage[] {
  const root: BootStage =
    hypervisor === "nitro" ? "nitro-security-chip" : hypervisor === "xen" ? "xen" : "host-os";
  return ["firmware", root, "hypervisor", "config"];
}

/**
 * The known-good build of each code stage. Nitro: UEFI firmware, the Nitro security chip's firmware
 * (which holds the host in reset while it verifies the rest) and the KVM-based Nitro hypervisor. Xen:
 * BIOS, the Xen hypervisor, dom0's kernel and toolstack. Hosted: firmware, the host OS, the VMM.
 */
const GOLDEN: Record<HostHypervisor, Array<{ stage: BootStage; name: string; version: string }>> = {
  nitro: [
    { stage: "firmware", name: "nitro-uefi", version: "2026.10.1" },
    { stage: "nitro-security-chip", name: "nitro-security-chip-firmware", version: "5.3.0" },
    { stage: "hypervisor", name: "nitro-hypervisor", version: "2026.11.0" },
  ],
  xen: [
    { stage: "firmware", name: "xen-host-bios", version: "4.2.7" },
    { stage: "xen", name: "xen", version: "4.11.4" },
    { stage: "hypervisor", name: "dom0-linux-toolstack", version: "4.14.355" },
  ],
  type2: [
    { stage: "firmware", name: "hosted-uefi", version: "2026.10.1" },
    { stage: "host-os", name: "linux-host", version: "6.12.58" },
    { stage: "hypervisor", name: "hosted-vmm", version: "10.1.2" },
  ],
};

function manifest(name: string, version: string): Uint8Array {
  return text.encode(`image ${name}\nversion ${version}\nbuilt-by hyperfleet-release\n`);
}

/** The configuration a host is provisioned with, canonically: what its config stage measures. */
export function configImage(hypervisor: HostHypervisor, optimizations: Optimizations): BootImage {
  const keys = Object.keys(optimizations).sort() as (keyof Optimizations)[];
  const body = JSON.stringify({
    hypervisor,
    optimizations: Object.fromEntries(keys.map((k) => [k, optimizations[k]])),
  });
  return { stage: "config", name: "host-config", version: "1", bytes: text.encode(body) };
}

/** The images a host of this kind boots when nobody has changed them. */
export function goldenImages(hypervisor: HostHypervisor, optimizations: Optimizations): BootImage[] {
  return [
    ...GOLDEN[hypervisor].map((g) => ({ ...g, bytes: manifest(g.name, g.version) })),
    configImage(hypervisor, optimizations),
  ];
}

/** The code stages' known-good digests, every hypervisor's: what a fresh allow-list holds. */
export async function goldenMeasurements(): Promise<
  Array<{ stage: BootStage; digest: string; description: string }>
> {
  const out = [];
  for (const list of Object.values(GOLDEN)) {
    for (const g of list) {
      out.push({
        stage: g.stage,
        digest: await sha384(manifest(g.name, g.version)),
        description: `${g.name} ${g.version}`,
      });
    }
  }
  return out;
}

/** An image changed behind the release process: a few bytes appended, as an implant would be. */
export function tampered(image: BootImage): BootImage {
  const bytes = new Uint8Array(image.bytes.length + 17);
  bytes.set(image.bytes);
  bytes.set(text.encode("\nimplant 0xdeadbe"), image.bytes.length);
  return { ...image, bytes };
}

/** Boots the images in order, measuring each before it runs. */
export async function measureBoot(images: readonly BootImage[], at: number): Promise<BootRecord> {
  let pcr = PCR_RESET;
  const measurements: BootMeasurement[] = [];
  for (const img of images) {
    const digest = await sha384(img.bytes);
    pcr = await extend(pcr, digest);
    measurements.push({ stage: img.stage, name: img.name, version: img.version, digest, pcr });
  }
  return { measuredAt: at, measurements, pcr };
}

/** Recomputes the chain from the stage digests: a record whose links do not follow is forged. */
export async function chainHolds(record: BootRecord): Promise<boolean> {
  let pcr = PCR_RESET;
  for (const m of record.measurements) {
    pcr = await extend(pcr, m.digest);
    if (pcr !== m.pcr) return false;
  }
  return pcr === record.pcr;
}
