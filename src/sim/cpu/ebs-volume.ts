// An EBS volume's own limits, which depend on the platform it is attached to: io1 and io2 deliver their
// top IOPS only on Nitro instances. Figures from the AWS API reference (CreateVolume `Iops`) and the EC2
// user guide's "EBS volume types"; see shared REFERENCES.md.
import type { VolumeLimits } from "./allowance";
import type { HypervisorKind } from "./hypervisor";

export const VOLUME_TYPES = ["gp3", "io1", "io2"] as const;
export type VolumeType = (typeof VOLUME_TYPES)[number];

/** The volume a guest's EBS traffic goes to: its type and what was provisioned on it. */
export interface EbsVolume {
  type: VolumeType;
  /** Provisioned IOPS; gp3 defaults to its 3,000 baseline, io1 and io2 must say. */
  iops?: number;
  /** gp3 only: provisioned throughput, 125 MiB/s by default. */
  throughputMiBps?: number;
}

interface VolumeSpec {
  minIops: number;
  maxIops: number;
  /** The most IOPS instances off the Nitro System get: "Other instance families guarantee performance up to 32,000 IOPS." */
  maxIopsOffNitro: number;
  defaultIops?: number;
  /** Provisioned throughput range in MiB/s, for the types that provision it. */
  throughputMiBps?: { min: number; max: number; default: number };
}

const SPECS: Record<VolumeType, VolumeSpec> = {
  gp3: {
    minIops: 3000,
    maxIops: 16_000,
    maxIopsOffNitro: 16_000,
    defaultIops: 3000,
    throughputMiBps: { min: 125, max: 1000, default: 125 },
  },
  io1: { minIops: 100, maxIops: 64_000, maxIopsOffNitro: 32_000 },
  // io2 on Nitro is Block Express: up to 256,000 IOPS; elsewhere it stops where io1 does.
  io2: { minIops: 100, maxIops: 256_000, maxIopsOffNitro: 32_000 },
};

const MIB = 1024 * 1024;

export function validateVolume(v: EbsVolume): void {
  const spec = SPECS[v.type];
  if (!spec) throw new RangeError(`unknown volume type: ${String(v.type)}`);
  const iops = v.iops ?? spec.defaultIops;
  if (iops === undefined) throw new RangeError(`${v.type} volumes need provisioned iops`);
  if (!(iops >= spec.minIops && iops <= spec.maxIops)) {
    throw new RangeError(`${v.type} iops must be within [${spec.minIops}, ${spec.maxIops}]`);
  }
  if (v.throughputMiBps !== undefined) {
    const t = spec.throughputMiBps;
    if (!t) throw new RangeError(`${v.type} volumes do not provision throughput`);
    if (!(v.throughputMiBps >= t.min && v.throughputMiBps <= t.max)) {
      throw new RangeError(`throughputMiBps must be within [${t.min}, ${t.max}]`);
    }
  }
}

/**
 * What the volume delivers on a host of this kind: its provisioned IOPS up to the platform's ceiling, and
 * its provisioned throughput where the type has one (io1 and io2 throughput is left to the instance).
 */
export function volumeLimits(v: EbsVolume, kind: HypervisorKind): VolumeLimits {
  validateVolume(v);
  const spec = SPECS[v.type];
  const provisioned = v.iops ?? spec.defaultIops ?? spec.minIops;
  const ceiling = kind === "nitro" ? spec.maxIops : spec.maxIopsOffNitro;
  const t = spec.throughputMiBps;
  return {
    iops: Math.min(provisioned, ceiling),
    bytesPerSec: t ? (v.throughputMiBps ?? t.default) * MIB : Number.POSITIVE_INFINITY,
  };
}
