// Hypervisor kinds and the host description: where device work runs (Nitro cards, Xen dom0, a host OS)
// and how vCPUs are scheduled. After the seed's Xen and Nitro sections and AWS's Nitro security whitepaper.
import type { CostOverrides } from "./costs";
import { NETBACK_QUEUES } from "./devices";

export type HypervisorKind = "nitro" | "xen" | "type2";

/** Privilege levels as the guest and the hardware see them. */
export const PRIVILEGE_LEVELS = {
  /** VMX root: the hypervisor, entered on every VM exit or hypercall. */
  vmxRoot: -1,
  guestKernel: 0,
  guestUser: 3,
} as const;

/** Xen guests are paravirtual (modified kernel, hypercalls) or HVM (VT-x, exits); others are always HVM. */
export type GuestMode = "pv" | "hvm";

/** The switches of the seed's optimization list. Each changes what the model computes. */
export interface Optimizations {
  /** 2 MiB pages in guest and nested tables: shorter 2D walks, fewer TLB misses, fewer EPT faults. */
  largePages: boolean;
  /** vCPUs hard-pinned to host threads: no migrations, and on Nitro the default. */
  cpuAffinity: boolean;
  /** A NIC virtual function assigned to the guest: packets skip the software backend. */
  sriov: boolean;
  /** Under memory pressure the guest returns pages itself instead of the host swapping them out. */
  ballooning: boolean;
  /** Paravirtual (or ENA/NVMe) drivers in the guest instead of emulated legacy devices. */
  pvDrivers: boolean;
}

export interface Dom0Description {
  vcpus: number;
  memoryMiB: number;
  /** dom0 pinned to host threads of its own; if false it competes with guests in the pool. */
  dedicated: boolean;
  /** Toolstack, xenstored and the like, as a fraction of dom0's vCPUs. */
  baselineUtilization: number;
  /** Netback threads (queues) per guest network interface: 1 before multi-queue netback (devices.ts). */
  netbackQueues: number;
}

export interface HostDescription {
  kind: HypervisorKind;
  sockets: number;
  coresPerSocket: number;
  threadsPerCore: number;
  memoryMiB?: number;
  /** vCPUs admitted per host thread; above 1 the scheduler has to share threads. */
  overcommitRatio?: number;
  dom0?: Partial<Dom0Description>;
  /** Type 2 only: the host OS's own load as a fraction of all threads. */
  hostOsUtilization?: number;
  /**
   * Xen only: the mode of guests that do not ask for one. HVM by default, as EC2 ran its last Xen
   * families (c4, m4, r4); PV guests (the m3 era and before) ask for it.
   */
  xenGuestMode?: GuestMode;
  optimizations?: Partial<Optimizations>;
  costs?: CostOverrides;
}

export interface HypervisorTraits {
  kind: HypervisorKind;
  /** Network, EBS and instance storage handled by Nitro cards, not host cores. */
  ioOffloadCards: boolean;
  /** Nitro Security Chip: the host's firmware is locked down; no operator access (no CPU cost). */
  securityChip: boolean;
  /** Device interrupts delivered straight to a running vCPU (VT-d posted interrupts, APICv). */
  postedInterrupts: boolean;
  /** KVM's halt polling; Xen's credit scheduler blocks a halted vCPU straight away. */
  haltPolling: boolean;
  /** Device emulation lives in a user-space process (QEMU, VirtualBox), so I/O exits cost a full round trip. */
  userspaceDeviceModel: boolean;
  /** Scheduler time slice: Xen credit's 30 ms, Linux CFS's few ms for the KVM-based kinds. */
  timeSliceSec: number;
  schedulerName: "pinned" | "credit" | "cfs";
}

export const TRAITS: Record<HypervisorKind, HypervisorTraits> = {
  nitro: {
    kind: "nitro",
    ioOffloadCards: true,
    securityChip: true,
    postedInterrupts: true,
    haltPolling: true,
    userspaceDeviceModel: false,
    timeSliceSec: 0.004,
    schedulerName: "pinned",
  },
  xen: {
    kind: "xen",
    ioOffloadCards: false,
    securityChip: false,
    postedInterrupts: false,
    haltPolling: false,
    userspaceDeviceModel: true,
    timeSliceSec: 0.03,
    schedulerName: "credit",
  },
  type2: {
    kind: "type2",
    ioOffloadCards: false,
    securityChip: false,
    postedInterrupts: false,
    haltPolling: true,
    userspaceDeviceModel: true,
    timeSliceSec: 0.004,
    schedulerName: "cfs",
  },
};

export function defaultOptimizations(kind: HypervisorKind): Optimizations {
  return {
    largePages: false,
    cpuAffinity: kind === "nitro",
    sriov: kind === "nitro",
    ballooning: false,
    pvDrivers: true,
  };
}

export interface ResolvedHost {
  kind: HypervisorKind;
  threads: number;
  memoryMiB: number;
  overcommitRatio: number;
  dom0: Dom0Description | null;
  hostOsUtilization: number;
  xenGuestMode: GuestMode;
  optimizations: Optimizations;
}

export function resolveHost(d: HostDescription): ResolvedHost {
  if (!TRAITS[d.kind]) throw new RangeError(`unknown hypervisor kind: ${String(d.kind)}`);
  for (const [name, v] of [
    ["sockets", d.sockets],
    ["coresPerSocket", d.coresPerSocket],
    ["threadsPerCore", d.threadsPerCore],
  ] as const) {
    if (!(Number.isInteger(v) && v >= 1)) throw new RangeError(`${name} must be a positive integer`);
  }
  const threads = d.sockets * d.coresPerSocket * d.threadsPerCore;
  const overcommitRatio = d.overcommitRatio ?? 1;
  if (!(overcommitRatio >= 0.1 && overcommitRatio <= 64)) {
    throw new RangeError("overcommitRatio must be within [0.1, 64]");
  }
  let dom0: Dom0Description | null = null;
  if (d.kind === "xen") {
    dom0 = {
      vcpus: 4,
      memoryMiB: 4096,
      dedicated: true,
      baselineUtilization: 0.05,
      netbackQueues: NETBACK_QUEUES,
      ...d.dom0,
    };
    if (!(Number.isInteger(dom0.vcpus) && dom0.vcpus >= 1 && dom0.vcpus < threads)) {
      throw new RangeError("dom0.vcpus must be a positive integer below the host's thread count");
    }
    if (!(Number.isInteger(dom0.netbackQueues) && dom0.netbackQueues >= 1)) {
      throw new RangeError("dom0.netbackQueues must be a positive integer");
    }
  }
  return {
    kind: d.kind,
    threads,
    memoryMiB: d.memoryMiB ?? 0,
    overcommitRatio,
    dom0,
    hostOsUtilization: d.kind === "type2" ? (d.hostOsUtilization ?? 0.02) : 0,
    xenGuestMode: d.xenGuestMode ?? "hvm",
    optimizations: { ...defaultOptimizations(d.kind), ...d.optimizations },
  };
}
