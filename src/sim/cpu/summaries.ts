// What a host's CPU counters answer: one VM's exits, hypercalls, cycles and I/O over a window, and the
// host's use of its threads, with the share of I/O its Nitro cards (or SR-IOV functions) took off the CPU
// and what the instances' I/O allowances held back.
import { balancePct, type Credits, type IoAllowances, type VolumeLimits } from "./allowance";
import { EXIT_REASONS, HYPERCALLS, PV_TRAPS } from "./costs";
import { type CounterHistory, EXIT0, F, H, HC0, INTERVAL_MS, TRAP0 } from "./counters";
import type { BlockPath, NetPath } from "./devices";
import type { VolumeType } from "./ebs-volume";
import type { GuestMode, HypervisorKind, HypervisorTraits } from "./hypervisor";

export interface VmCpuCounters {
  vmId: string;
  mode: GuestMode;
  /** Simulated time the figures cover (may be shorter than asked when history is shorter). */
  windowMs: number;
  vmExits: Record<(typeof EXIT_REASONS)[number], number>;
  vmEntries: Record<(typeof EXIT_REASONS)[number], number>;
  totalExits: number;
  hypercalls: Record<(typeof HYPERCALLS)[number], number>;
  pvTraps: Record<(typeof PV_TRAPS)[number], number>;
  cycles: {
    /** vCPUs × clock × time: guest + hypervisor + steal + idle. */
    capacity: number;
    guest: number;
    guestKernel: number;
    guestUser: number;
    /** Part of guest cycles spent on the extra references of two-dimensional page walks. */
    translation: number;
    /** In VMX root (or Xen) on this VM's vCPU threads: exits, hypercalls, traps, host context switches. */
    hypervisor: number;
    steal: number;
    idle: number;
    /** On this VM's behalf in dom0 (netback, blkback, device model), on dom0's threads. */
    dom0: number;
    /** On this VM's behalf in host backends (vhost, a user-space device model). */
    backend: number;
  };
  /** Cycles outside the guest (hypervisor, dom0, backends) as a share of all cycles spent for it. */
  overheadPct: number;
  stealPct: number;
  contextSwitches: number;
  vcpuMigrations: number;
  io: {
    networkPath: NetPath;
    storagePath: BlockPath;
    packets: number;
    packetsThrottled: number;
    diskIos: number;
    diskIosThrottled: number;
    /** Handled by hardware (a Nitro card or an SR-IOV function) with no host CPU. */
    packetsInHardware: number;
    iosInHardware: number;
    /** Time the Nitro card spent on them: its own processors, not host CPU (none without a card). */
    cardBusyMs: number;
    network: NetworkAllowance;
    ebs: EbsAllowance;
  };
  memory: { swapFaults: number; balloonedPages: number; backedPages: number };
}

/** Inbound and outbound, which EC2 meters apart. */
export interface InOut {
  in: number;
  out: number;
}

/** The network allowance of the instance's type and what it let through (allowance.ts). */
export interface NetworkAllowance {
  /** Bandwidth in each direction: the baseline, and the burst while network I/O credits last. */
  baselineGbps: number;
  burstGbps: number;
  /** Packets per second in both directions together; null where the type has no limit of its own. */
  packetsPerSecond: number | null;
  offeredBytes: InOut;
  bytes: InOut;
  packets: InOut;
  /** Packets held back by each allowance, as ENA counts them (ethtool -S: bw_in_allowance_exceeded, ...). */
  bwInAllowanceExceeded: number;
  bwOutAllowanceExceeded: number;
  ppsAllowanceExceeded: number;
  /** Seconds in which any allowance held packets back. */
  throttledSeconds: number;
  /** Network I/O credits left in each direction's bucket now, in %; null for a type that does not burst. */
  creditBalancePct: { in: number | null; out: number | null };
}

/** The EBS limits of the instance and its volume, and what they let through. */
export interface EbsAllowance {
  baselineMbps: number;
  maxMbps: number;
  baselineIops: number;
  maxIops: number;
  /** The volume's limits as this platform delivers them (io2: 256,000 IOPS on Nitro, 32,000 elsewhere). */
  volume: { type: VolumeType; iops: number; throughputMiBps: number | null } | null;
  offeredIos: number;
  offeredBytes: number;
  bytes: number;
  /** I/Os held back, each against the tightest limit (after CloudWatch's InstanceEBSIOPSExceededCheck and kin). */
  instanceIopsExceeded: number;
  instanceThroughputExceeded: number;
  volumeIopsExceeded: number;
  volumeThroughputExceeded: number;
  throttledSeconds: number;
  /** The burst buckets now, as CloudWatch's EBSIOBalance% and EBSByteBalance%; null for a type that does not burst. */
  ioBalancePct: number | null;
  byteBalancePct: number | null;
}

/** What the allowances held back on a host, over its VMs. */
export interface HostThrottling {
  bwInAllowanceExceeded: number;
  bwOutAllowanceExceeded: number;
  ppsAllowanceExceeded: number;
  /** VM-seconds in which a network allowance held a VM back. */
  networkThrottledVmSeconds: number;
  ebsIopsExceeded: number;
  ebsThroughputExceeded: number;
  volumeIopsExceeded: number;
  volumeThroughputExceeded: number;
  ebsThrottledVmSeconds: number;
}

export interface IoSplit {
  total: number;
  /** On Nitro cards or SR-IOV functions: no host CPU. */
  inHardware: number;
  onHostCpu: number;
  viaDom0: number;
}

export interface HostCpuSummary {
  kind: HypervisorKind;
  threads: number;
  vms: number;
  vcpusAllocated: number;
  /** Guest vCPUs this host admits: pool threads × overcommit ratio. */
  vcpuLimit: number;
  windowMs: number;
  cycles: {
    /** threads × clock × time = guest + hypervisor + backend + dom0 + hostOs + idle. */
    capacity: number;
    guest: number;
    hypervisor: number;
    backend: number;
    dom0: number;
    hostOs: number;
    idle: number;
    /** What vCPUs wanted and did not get (not a use of host cycles). */
    steal: number;
    /** Threads set aside for dom0, busy or not. */
    reservedForDom0: number;
  };
  /** Host CPU used outside the guests, as a share of all host CPU used. */
  hypervisorOverheadPct: number;
  utilizationPct: number;
  offload: {
    network: IoSplit;
    storage: IoSplit;
    /** Share of guest I/O operations done off the host CPU. */
    hardwareSharePct: number;
    /** Host cycles (backends and dom0 I/O work) spent moving guest I/O. */
    hostIoCycles: number;
    /** Time the cards (or SR-IOV NICs) spent on guest I/O, off the host CPU. */
    cardBusyMs: number;
    throttling: HostThrottling;
  };
  features: { ioOffloadCards: boolean; securityChip: boolean; scheduler: HypervisorTraits["schedulerName"] };
}

/** What a VM's counters are read from: its history and what it is, besides. */
export interface CountedVm {
  readonly id: string;
  readonly mode: GuestMode;
  readonly net: NetPath;
  readonly blk: BlockPath;
  readonly history: CounterHistory;
  readonly balloonedPages: number;
  readonly backedPages: number;
  readonly allowances: IoAllowances;
  readonly credits: Credits;
  readonly volumeType: VolumeType | null;
  readonly volumeLimits: VolumeLimits;
}

/** What a host's summary says of the host besides its counters. */
export interface CountedHost {
  kind: HypervisorKind;
  threads: number;
  vms: number;
  vcpusAllocated: number;
  vcpuLimit: number;
  traits: HypervisorTraits;
  scheduler: HypervisorTraits["schedulerName"];
}

function pick<K extends string>(names: readonly K[], sum: Float64Array, from: number): Record<K, number> {
  const out = {} as Record<K, number>;
  names.forEach((n, i) => {
    out[n] = sum[from + i];
  });
  return out;
}

const pct = (part: number, whole: number): number => (whole > 0 ? (100 * part) / whole : 0);

export function vmCounters(vm: CountedVm, windowMs?: number): VmCpuCounters {
  const { sum, seconds } = vm.history.window(windowMs);
  const exits = pick(EXIT_REASONS, sum, EXIT0);
  let totalExits = 0;
  for (const r of EXIT_REASONS) totalExits += exits[r];
  const guest = sum[F.guestCycles];
  const hv = sum[F.vmmCycles];
  const outside = hv + sum[F.dom0Cycles] + sum[F.backendCycles];
  const wanted = guest + hv + sum[F.stealCycles];
  return {
    vmId: vm.id,
    mode: vm.mode,
    windowMs: seconds * INTERVAL_MS,
    vmExits: exits,
    // Each exit handled resumes the guest, so entries follow exits reason by reason.
    vmEntries: { ...exits },
    totalExits,
    hypercalls: pick(HYPERCALLS, sum, HC0),
    pvTraps: pick(PV_TRAPS, sum, TRAP0),
    cycles: {
      capacity: sum[F.capacityCycles],
      guest,
      guestKernel: sum[F.guestKernelCycles],
      guestUser: guest - sum[F.guestKernelCycles],
      translation: sum[F.translationCycles],
      hypervisor: hv,
      steal: sum[F.stealCycles],
      idle: sum[F.idleCycles],
      dom0: sum[F.dom0Cycles],
      backend: sum[F.backendCycles],
    },
    overheadPct: pct(outside, guest + outside),
    stealPct: pct(sum[F.stealCycles], wanted),
    contextSwitches: sum[F.contextSwitches],
    vcpuMigrations: sum[F.vcpuMigrations],
    io: {
      networkPath: vm.net,
      storagePath: vm.blk,
      packets: sum[F.packets],
      packetsThrottled: sum[F.packetsThrottled],
      diskIos: sum[F.diskIos],
      diskIosThrottled: sum[F.diskIosThrottled],
      packetsInHardware: sum[F.cardPackets],
      iosInHardware: sum[F.cardIos],
      cardBusyMs: sum[F.cardNs] / 1e6,
      network: networkAllowance(vm, sum),
      ebs: ebsAllowance(vm, sum),
    },
    memory: {
      swapFaults: sum[F.swapFaults],
      balloonedPages: vm.balloonedPages,
      backedPages: vm.backedPages,
    },
  };
}

const GBPS = 1e9 / 8;
const MBPS = 1e6 / 8;
const MIB = 1024 * 1024;
const orNull = (v: number): number | null => (Number.isFinite(v) ? v : null);

function networkAllowance(vm: CountedVm, sum: Float64Array): NetworkAllowance {
  const a = vm.allowances;
  return {
    baselineGbps: a.netOut.baseline / GBPS,
    burstGbps: a.netOut.peak / GBPS,
    packetsPerSecond: orNull(a.pps),
    offeredBytes: { in: sum[F.bytesInOffered], out: sum[F.bytesOutOffered] },
    bytes: { in: sum[F.bytesIn], out: sum[F.bytesOut] },
    packets: { in: sum[F.packetsIn], out: sum[F.packets] - sum[F.packetsIn] },
    bwInAllowanceExceeded: sum[F.bwInAllowanceExceeded],
    bwOutAllowanceExceeded: sum[F.bwOutAllowanceExceeded],
    ppsAllowanceExceeded: sum[F.ppsAllowanceExceeded],
    throttledSeconds: sum[F.netThrottledSeconds],
    creditBalancePct: {
      in: balancePct(a.netIn, vm.credits.netIn),
      out: balancePct(a.netOut, vm.credits.netOut),
    },
  };
}

function ebsAllowance(vm: CountedVm, sum: Float64Array): EbsAllowance {
  const a = vm.allowances;
  const v = vm.volumeLimits;
  return {
    baselineMbps: a.ebsBytes.baseline / MBPS,
    maxMbps: a.ebsBytes.peak / MBPS,
    baselineIops: a.ebsIops.baseline,
    maxIops: a.ebsIops.peak,
    volume: vm.volumeType
      ? { type: vm.volumeType, iops: v.iops, throughputMiBps: orNull(v.bytesPerSec / MIB) }
      : null,
    offeredIos: sum[F.diskIos] + sum[F.diskIosThrottled],
    offeredBytes: sum[F.ebsBytesOffered],
    bytes: sum[F.ebsBytes],
    instanceIopsExceeded: sum[F.ebsIopsExceeded],
    instanceThroughputExceeded: sum[F.ebsThroughputExceeded],
    volumeIopsExceeded: sum[F.volumeIopsExceeded],
    volumeThroughputExceeded: sum[F.volumeThroughputExceeded],
    throttledSeconds: sum[F.ebsThrottledSeconds],
    ioBalancePct: balancePct(a.ebsIops, vm.credits.ebsIos),
    byteBalancePct: balancePct(a.ebsBytes, vm.credits.ebsBytes),
  };
}

export function hostSummary(host: CountedHost, history: CounterHistory, windowMs?: number): HostCpuSummary {
  const { sum, seconds } = history.window(windowMs);
  const guest = sum[H.guestCycles];
  const outside = sum[H.vmmCycles] + sum[H.backendCycles] + sum[H.dom0Cycles] + sum[H.hostOsCycles];
  const split = (hw: number, onHost: number, dom0: number): IoSplit => ({
    total: hw + onHost + dom0,
    inHardware: hw,
    onHostCpu: onHost,
    viaDom0: dom0,
  });
  const network = split(sum[H.cardPackets], sum[H.hostPackets], sum[H.dom0Packets]);
  const storage = split(sum[H.cardIos], sum[H.hostIos], sum[H.dom0Ios]);
  return {
    kind: host.kind,
    threads: host.threads,
    vms: host.vms,
    vcpusAllocated: host.vcpusAllocated,
    vcpuLimit: host.vcpuLimit,
    windowMs: seconds * INTERVAL_MS,
    cycles: {
      capacity: sum[H.capacityCycles],
      guest,
      hypervisor: sum[H.vmmCycles],
      backend: sum[H.backendCycles],
      dom0: sum[H.dom0Cycles],
      hostOs: sum[H.hostOsCycles],
      idle: sum[H.idleCycles],
      steal: sum[H.stealCycles],
      reservedForDom0: sum[H.reservedThreadCycles],
    },
    hypervisorOverheadPct: pct(outside, guest + outside),
    utilizationPct: pct(guest + outside, sum[H.capacityCycles]),
    offload: {
      network,
      storage,
      hardwareSharePct: pct(network.inHardware + storage.inHardware, network.total + storage.total),
      hostIoCycles: sum[H.ioBackendCycles],
      cardBusyMs: sum[H.cardNs] / 1e6,
      throttling: {
        bwInAllowanceExceeded: sum[H.bwInAllowanceExceeded],
        bwOutAllowanceExceeded: sum[H.bwOutAllowanceExceeded],
        ppsAllowanceExceeded: sum[H.ppsAllowanceExceeded],
        networkThrottledVmSeconds: sum[H.netThrottledVmSeconds],
        ebsIopsExceeded: sum[H.ebsIopsExceeded],
        ebsThroughputExceeded: sum[H.ebsThroughputExceeded],
        volumeIopsExceeded: sum[H.volumeIopsExceeded],
        volumeThroughputExceeded: sum[H.volumeThroughputExceeded],
        ebsThrottledVmSeconds: sum[H.ebsThrottledVmSeconds],
      },
    },
    features: {
      ioOffloadCards: host.traits.ioOffloadCards,
      securityChip: host.traits.securityChip,
      scheduler: host.scheduler,
    },
  };
}
