// Device paths for guest I/O: ENA and NVMe on Nitro cards, SR-IOV functions, virtio with a host backend,
// Xen's split drivers through dom0, and emulated legacy devices; plus the instance type's I/O caps.
import type { GuestMode, HypervisorKind, Optimizations } from "./hypervisor";

/** What the fleet's instance-type catalog maps onto; plain numbers so the model needs no catalog. */
export interface InstanceCaps {
  vcpus: number;
  memoryMiB: number;
  /** Baseline network bandwidth, in each direction. */
  networkGbps: number;
  /** The "up to" figure of a type that bursts on network I/O credits; absent, no burst. */
  networkBurstGbps?: number;
  /** Baseline EBS bandwidth in megabits per second, as EC2 documents it. */
  ebsMbps: number;
  ebsIops: number;
  /** EBS maximums of a type that bursts for 30 minutes a day; absent, the baseline is the maximum. */
  ebsBurstMbps?: number;
  ebsBurstIops?: number;
  /** Packets per second, where the type has a limit of its own besides bandwidth. */
  networkPps?: number;
}

export type NetPath = "ena" | "sriov_vf" | "virtio" | "netfront" | "emulated";
export type BlockPath = "nvme_card" | "virtio_blk" | "blkfront" | "emulated";

/** Where a path's per-operation software work runs on the host, if anywhere. */
export type Backend = "none" | "host" | "dom0";

/** The device an SR-IOV guest drives: an Intel 82599 virtual function (ixgbevf), or ENA. */
export type SriovAdapter = "vf" | "ena";

export function netPath(
  kind: HypervisorKind,
  mode: GuestMode,
  opt: Optimizations,
  adapter: SriovAdapter = "vf",
): NetPath {
  // A PV guest has split drivers by construction; only an HVM guest can lack paravirtual drivers.
  if (mode === "hvm" && !opt.pvDrivers) return "emulated";
  if (kind === "nitro") return opt.sriov ? "ena" : "virtio";
  // EC2 gave a virtual function ("enhanced networking") to HVM guests only: a PV guest's packets
  // always cross dom0's netback.
  if (kind === "xen")
    return opt.sriov && mode === "hvm" ? (adapter === "ena" ? "ena" : "sriov_vf") : "netfront";
  return opt.sriov ? "sriov_vf" : "virtio";
}

export function blockPath(kind: HypervisorKind, mode: GuestMode, opt: Optimizations): BlockPath {
  if (mode === "hvm" && !opt.pvDrivers) return "emulated";
  if (kind === "nitro") return "nvme_card";
  if (kind === "xen") return "blkfront";
  return "virtio_blk";
}

/**
 * Threads a guest's back end can use in dom0: Linux's netback served each vif from one kernel thread
 * (one queue) until multi-queue netback (Linux 3.16), and blkback each virtual disk from one (xenblkd).
 */
export const NETBACK_QUEUES = 1;
export const BLKBACK_THREADS = 1;

export function netBackend(kind: HypervisorKind, path: NetPath): Backend {
  if (path === "ena" || path === "sriov_vf") return "none";
  return kind === "xen" ? "dom0" : "host";
}

export function blockBackend(kind: HypervisorKind, path: BlockPath): Backend {
  if (path === "nvme_card") return "none";
  return kind === "xen" ? "dom0" : "host";
}

/** Packets per second the type allows at the profile's packet size. */
export function packetCap(caps: InstanceCaps, packetBytes: number): number {
  const byBandwidth = (caps.networkGbps * 1e9) / 8 / packetBytes;
  return caps.networkPps !== undefined ? Math.min(caps.networkPps, byBandwidth) : byBandwidth;
}

/** I/Os per second the type allows at the profile's I/O size. */
export function ioCap(caps: InstanceCaps, ioBytes: number): number {
  return Math.min(caps.ebsIops, (caps.ebsMbps * 1e6) / 8 / ioBytes);
}

/**
 * Operations per interrupt or notification: NAPI and ring batching for packets, request merging and
 * completion coalescing for block I/O; an emulated NIC raises one interrupt per few frames.
 */
export const PACKETS_PER_BATCH = 32;
export const IOS_PER_BATCH = 4;
export const EMULATED_OPS_PER_BATCH = 4;

/**
 * Time a Nitro card is busy per packet and per EBS I/O: its own processors, never the host's. Estimates
 * of the right order, unverified: a packet of an established flow takes the card's cached path (security
 * groups, routes and encapsulation looked up once per flow, per AWS's "Nitro system considerations for
 * performance tuning"); an EBS I/O adds NVMe command handling and encryption of the payload. An SR-IOV
 * function without a Nitro card behind it (an 82599 VF, ENA on Xen's r4 and m4.16xlarge, a hosted
 * hypervisor's VF) moves packets in the NIC: counted as packets in hardware, with no card time.
 */
export const CARD_NS_PER_PACKET = 250;
export const CARD_NS_PER_IO = 2000;

export function validateCaps(caps: InstanceCaps): void {
  if (!(Number.isInteger(caps.vcpus) && caps.vcpus >= 1))
    throw new RangeError("vcpus must be a positive integer");
  for (const [name, v] of [
    ["memoryMiB", caps.memoryMiB],
    ["networkGbps", caps.networkGbps],
    ["ebsMbps", caps.ebsMbps],
    ["ebsIops", caps.ebsIops],
  ] as const) {
    if (!(v >= 0 && Number.isFinite(v))) throw new RangeError(`${name} must be a non-negative number`);
  }
  for (const [name, v, base] of [
    ["networkBurstGbps", caps.networkBurstGbps, caps.networkGbps],
    ["ebsBurstMbps", caps.ebsBurstMbps, caps.ebsMbps],
    ["ebsBurstIops", caps.ebsBurstIops, caps.ebsIops],
  ] as const) {
    if (v !== undefined && !(v >= base && Number.isFinite(v))) {
      throw new RangeError(`${name} must be a finite number no lower than the baseline`);
    }
  }
  if (caps.networkPps !== undefined && !(caps.networkPps >= 0)) {
    throw new RangeError("networkPps must be a non-negative number");
  }
}
