// EBS volume types as the EC2 user guide's "Amazon EBS volume types" tables publish them (gp3, io2 Block
// Express, st1): sizes, IOPS and throughput ranges and their ratios, and which may be multi-attached. See
// shared REFERENCES.md, "Block storage". The CPU model's own view of a volume (sim/cpu/ebs-volume.ts) uses
// the same gp3 and io2 IOPS figures.

export const STORAGE_VOLUME_TYPES = ["gp3", "io2", "st1"] as const;
export type StorageVolumeType = (typeof STORAGE_VOLUME_TYPES)[number];

const MIB = 1024 * 1024;

interface TypeSpec {
  minGiB: number;
  maxGiB: number;
  /** Provisioned IOPS range, or null for st1, whose IOPS are fixed. */
  iops: { min: number; max: number; default?: number; perGiB: number } | null;
  /** Provisioned throughput (gp3 only). */
  throughput: { min: number; max: number; default: number; perIops: number } | null;
  multiAttach: boolean;
  /**
   * Typical per-I/O service time. Orders of magnitude, unverified: the guide promises io2 Block Express
   * "sub-millisecond latency" and gp3 "single-digit millisecond"; st1 is a hard disk behind the network.
   */
  latencyMs: number;
}

const SPECS: Record<StorageVolumeType, TypeSpec> = {
  // gp3: 1 GiB-16 TiB; 3,000 IOPS and 125 MiB/s baseline, up to 16,000 IOPS (500 per GiB) and 1,000 MiB/s
  // (0.25 MiB/s per provisioned IOPS).
  gp3: {
    minGiB: 1,
    maxGiB: 16_384,
    iops: { min: 3000, max: 16_000, default: 3000, perGiB: 500 },
    throughput: { min: 125, max: 1000, default: 125, perIops: 0.25 },
    multiAttach: false,
    latencyMs: 1,
  },
  // io2 Block Express: 4 GiB-64 TiB; 100-256,000 IOPS at up to 1,000 per GiB; 4,000 MiB/s; Multi-Attach.
  io2: {
    minGiB: 4,
    maxGiB: 65_536,
    iops: { min: 100, max: 256_000, perGiB: 1000 },
    throughput: null,
    multiAttach: true,
    latencyMs: 0.5,
  },
  // st1: 125 GiB-16 TiB; 40 MiB/s per TiB baseline, at most 500 MiB/s and 500 IOPS (of up to 1 MiB each).
  st1: { minGiB: 125, maxGiB: 16_384, iops: null, throughput: null, multiAttach: false, latencyMs: 5 },
};

/** io2's published throughput ceiling, and st1's per-TiB baseline and ceilings. */
export const IO2_MAX_MIBPS = 4000;
export const ST1_BASELINE_MIBPS_PER_TIB = 40;
export const ST1_MAX_MIBPS = 500;
export const ST1_MAX_IOPS = 500;
/** Multi-Attach: "up to 16 instances" in the volume's zone, Nitro-based only. */
export const MULTI_ATTACH_MAX = 16;

export interface VolumeRequest {
  type: StorageVolumeType;
  sizeGiB: number;
  iops?: number;
  throughputMiBps?: number;
  multiAttach?: boolean;
}

/** What a volume is, once its request is checked: every figure resolved. */
export interface VolumeShape {
  type: StorageVolumeType;
  sizeGiB: number;
  iops: number;
  throughputMiBps: number;
  multiAttach: boolean;
}

/** A request that the published limits refuse: `field` names the offending member. */
export class VolumeSpecError extends RangeError {
  constructor(
    readonly field: keyof VolumeRequest,
    message: string,
  ) {
    super(message);
  }
}

/** Checks a request against the type's published limits and resolves its defaults. */
export function resolveVolume(r: VolumeRequest): VolumeShape {
  const spec = SPECS[r.type];
  if (!spec) throw new VolumeSpecError("type", `must be one of ${STORAGE_VOLUME_TYPES.join(", ")}`);
  if (!Number.isInteger(r.sizeGiB) || r.sizeGiB < spec.minGiB || r.sizeGiB > spec.maxGiB) {
    throw new VolumeSpecError("sizeGiB", `a ${r.type} volume is ${spec.minGiB} to ${spec.maxGiB} GiB`);
  }
  if (r.multiAttach && !spec.multiAttach) {
    throw new VolumeSpecError("multiAttach", `only io2 volumes may be multi-attached, not ${r.type}`);
  }
  let iops: number;
  if (spec.iops === null) {
    if (r.iops !== undefined) throw new VolumeSpecError("iops", `${r.type} volumes do not provision IOPS`);
    iops = ST1_MAX_IOPS;
  } else {
    const want = r.iops ?? spec.iops.default;
    if (want === undefined) throw new VolumeSpecError("iops", `${r.type} volumes need provisioned iops`);
    if (!Number.isInteger(want) || want < spec.iops.min || want > spec.iops.max) {
      throw new VolumeSpecError("iops", `${r.type} iops must be within [${spec.iops.min}, ${spec.iops.max}]`);
    }
    // The ratio binds only above the baseline: a 1 GiB gp3 still gets its 3,000.
    const ratioCap = Math.max(spec.iops.default ?? spec.iops.min, spec.iops.perGiB * r.sizeGiB);
    if (want > ratioCap) {
      throw new VolumeSpecError(
        "iops",
        `${r.type} allows at most ${spec.iops.perGiB} IOPS per GiB: ${ratioCap} for ${r.sizeGiB} GiB`,
      );
    }
    iops = want;
  }
  let throughputMiBps: number;
  if (spec.throughput) {
    const t = spec.throughput;
    const want = r.throughputMiBps ?? t.default;
    if (!Number.isInteger(want) || want < t.min || want > t.max) {
      throw new VolumeSpecError(
        "throughputMiBps",
        `${r.type} throughput must be within [${t.min}, ${t.max}] MiB/s`,
      );
    }
    const ratioCap = Math.max(t.default, t.perIops * iops);
    if (want > ratioCap) {
      throw new VolumeSpecError(
        "throughputMiBps",
        `${r.type} allows at most ${t.perIops} MiB/s per provisioned IOPS: ${ratioCap} MiB/s at ${iops} IOPS`,
      );
    }
    throughputMiBps = want;
  } else {
    if (r.throughputMiBps !== undefined) {
      throw new VolumeSpecError("throughputMiBps", `${r.type} volumes do not provision throughput`);
    }
    throughputMiBps =
      r.type === "st1"
        ? Math.min(ST1_MAX_MIBPS, (ST1_BASELINE_MIBPS_PER_TIB * r.sizeGiB) / 1024)
        : IO2_MAX_MIBPS;
  }
  return { type: r.type, sizeGiB: r.sizeGiB, iops, throughputMiBps, multiAttach: r.multiAttach ?? false };
}

/**
 * st1's burst bucket ("Throughput credits and burst performance", EBS user guide, hdd-vols): credits fill
 * at the 40 MiB/s-per-TiB baseline, are spent at up to 250 MiB/s per TiB (never past 500 MiB/s), and a
 * volume holds 1 TiB of credits per TiB of its size (a 1 TiB volume "can hold up to 1 TiB-worth").
 */
export const ST1_BURST_MIBPS_PER_TIB = 250;
export const ST1_BUCKET_BYTES_PER_TIB = 1024 * 1024 * MIB;

/**
 * The largest I/O counted as one operation: 256 KiB on SSD volumes, 1 MiB on HDD ones; a larger one
 * counts as several (EBS user guide, "I/O characteristics and monitoring").
 */
export const MAX_IO_BYTES: Record<StorageVolumeType, number> = {
  gp3: 256 * 1024,
  io2: 256 * 1024,
  st1: 1024 * 1024,
};

export interface VolumeRateLimits {
  iops: number;
  /** The sustained throughput (st1: its baseline, which fills the bucket). */
  bytesPerSec: number;
  latencyMs: number;
  /** The most one I/O moves and still counts as one operation. */
  maxIoBytes: number;
  /** st1's burst: the peak throughput while credits last, and the bucket's size. Null for the SSD types. */
  burst: { bytesPerSec: number; bucketBytes: number } | null;
}

/** The volume's own limits in operations and bytes per second, and its typical service time. */
export function volumeRates(v: VolumeShape): VolumeRateLimits {
  const tib = v.sizeGiB / 1024;
  const burst =
    v.type === "st1"
      ? {
          bytesPerSec: Math.min(ST1_MAX_MIBPS, ST1_BURST_MIBPS_PER_TIB * tib) * MIB,
          bucketBytes: ST1_BUCKET_BYTES_PER_TIB * tib,
        }
      : null;
  return {
    iops: v.iops,
    bytesPerSec: v.throughputMiBps * MIB,
    latencyMs: SPECS[v.type].latencyMs,
    maxIoBytes: MAX_IO_BYTES[v.type],
    burst,
  };
}

/** EC2's recommended device names for EBS volumes on Linux: /dev/sd[f-p] (or the xvd form). */
export const DEVICE_PATTERN = /^\/dev\/(sd|xvd)[b-z]$/;
