// One guest's demand over an interval, as counts per exit reason, hypercall and trap and the cycles they
// cost, split into a compute-driven and an I/O-driven part so the host can slow either. Costs: costs.ts;
// the I/O the instance's allowances let through: allowance.ts.
import { MMU_UPDATES_PER_BATCH } from "../hypercalls";
import {
  bootWorkload,
  eptViolationsPerNewPage,
  nestedRefsPerMiss,
  sampleWorkload,
  tlbMissShare,
  type VmMemory,
  workloadSamples,
} from "../memory";
import {
  allowancesFor,
  type Credits,
  type EbsMeter,
  fullCredits,
  type IoAllowances,
  meterEbs,
  meterNetwork,
  type NetworkMeter,
  NO_VOLUME_LIMITS,
  settle,
  type VolumeLimits,
} from "./allowance";
import { type CycleCosts, EXIT_REASONS, HYPERCALLS, type Hypercall, PV_TRAPS } from "./costs";
import * as counters from "./counters";
import {
  type Backend,
  BLKBACK_THREADS,
  type BlockPath,
  blockBackend,
  blockPath,
  CARD_NS_PER_IO,
  CARD_NS_PER_PACKET,
  EMULATED_OPS_PER_BATCH,
  type InstanceCaps,
  IOS_PER_BATCH,
  ioCap,
  type NetPath,
  netBackend,
  netPath,
  PACKETS_PER_BATCH,
  packetCap,
  type SriovAdapter,
} from "./devices";
import { type EbsVolume, volumeLimits } from "./ebs-volume";
import type { GuestMode, HypervisorKind, HypervisorTraits, Optimizations } from "./hypervisor";
import { Rng } from "./rng";
import {
  resolveWorkload,
  sampleActivity,
  sampleStretchActivity,
  type WorkloadParams,
  type WorkloadSpec,
} from "./workload";

// Counter slots read as this module's own consts: V8 folds those into the compiled steps, where an
// imported binding is a cell it checks on every use.
const { CounterHistory, EXIT0, F, HC0, indexTable, TRAP0, VM_FIELDS } = counters;
const X = indexTable(EXIT_REASONS, EXIT0);
const HC = indexTable(HYPERCALLS, HC0);
const TR = indexTable(PV_TRAPS, TRAP0);

/**
 * Simulated seconds between samples of a guest's workload on its memory model (memory/workload.ts). A
 * sample plays a few dozen accesses at a few microseconds each, more than a whole one-second step costs, so
 * it comes every few minutes and stands for all the events since the last one (the guest's memory boots
 * with one, so there are counts to price by from the first second).
 */
export const MEMORY_SAMPLE_SECONDS = 300;
const PAGE_BYTES = 4096;
/** Mixed into a guest's seed for its memory-side draws (2^32 / φ). */
const MEMORY_SEED = 0x9e3779b9;
/**
 * Seed of the boot sample's draws. Booting is the same for every guest of one shape and workload, so two
 * such guests boot to the same memory, whatever their instances' seeds; their workloads part from there.
 */
const BOOT_SEED = 0x2545f491;
/** Of the pages a guest touches, the share that land on pages the host swapped out (its LRU is blind). */
const HOST_SWAP_HIT = 0.05;
/** The same for a ballooned guest, which chose its own victims (cold page cache) and re-reads them from disk. */
const GUEST_REFAULT = 0.01;
/** Pages a balloon driver moves per request (memory_op or a virtio-balloon notification). */
const BALLOON_PAGES_PER_OP = 256;

/**
 * Memory references of a page walk: n-level guest tables on m-level nested tables cost (n+1)(m+1) − 1
 * (Bhargava et al., ASPLOS 2008); a native walk costs n. 2 MiB pages cut one level from a table.
 */
export function walkReferences(guestLevels: number, nestedLevels: number): number {
  if (nestedLevels === 0) return guestLevels;
  return (guestLevels + 1) * (nestedLevels + 1) - 1;
}

export interface VmOptions {
  /** Xen only; other kinds always run hardware-assisted guests. */
  mode?: GuestMode;
  largePages?: boolean;
  pvDrivers?: boolean;
  /** Whether the guest gets an SR-IOV device (the host's `sriov` switch when absent), and which one. */
  sriov?: boolean;
  sriovAdapter?: SriovAdapter;
  /**
   * A memory model beside this one counts the guest's page-table hypercalls (mmu_update, mmuext_op)
   * and charges them through HostCpu.chargeHypercalls, so the estimate from the workload's rates is
   * left out and each is counted once.
   */
  memoryModel?: boolean;
  /** Scheduler weight relative to other VMs (Xen credit's 256 maps to 1). */
  weight?: number;
  /** Host threads chosen by admission; without them the host's pin map picks the least loaded. */
  threads?: readonly number[];
  /** The EBS volume the guest's storage traffic goes to; without one only the instance's limits apply. */
  volume?: EbsVolume;
}

/** What a guest takes from the host it runs on. */
export interface GuestHost {
  kind: HypervisorKind;
  /** The host's switches; a VM's own `largePages` and `pvDrivers` options override two of them. */
  optimizations: Optimizations;
  /** The mode of Xen guests that do not ask for one. */
  xenGuestMode: GuestMode;
  costs: CycleCosts;
  traits: HypervisorTraits;
}

export interface GuestCpuInit {
  id: string;
  caps: InstanceCaps;
  spec: WorkloadSpec;
  /** Seeds the guest's own PRNG: the same seed replays the same intervals. */
  seed: number;
  host: GuestHost;
  options?: VmOptions;
}

export interface DemandContext {
  costs: CycleCosts;
  traits: HypervisorTraits;
  freqHz: number;
  /** Fraction of guest memory the host cannot back, from memory overcommit. */
  memoryShortfall: number;
  /** Whether a memory sample that is due may be played in this interval (see GuestCpu.driveMemory). */
  memorySampling: boolean;
}

export class GuestCpu {
  declare readonly id: string;
  declare readonly caps: InstanceCaps;
  declare readonly seed: number;
  declare readonly mode: GuestMode;
  declare readonly opt: Optimizations;
  declare readonly options: VmOptions;
  declare readonly net: NetPath;
  declare readonly blk: BlockPath;
  declare readonly netBe: Backend;
  declare readonly blkBe: Backend;
  declare readonly weight: number;
  declare spec: WorkloadSpec;
  declare params: WorkloadParams;
  declare readonly rng: Rng;
  burstOn = false;
  backedPages = 0;
  balloonedPages = 0;
  threads: number[] = [];
  history = new CounterHistory(VM_FIELDS);
  /** What the type's cards let through, the volume's own limits, and the credits left in the buckets. */
  declare readonly allowances: IoAllowances;
  declare readonly volumeLimits: VolumeLimits;
  declare credits: Credits;
  declare private readonly bursts: boolean;
  private readonly netMeter: NetworkMeter = {
    packetsOut: 0,
    packetsIn: 0,
    bwOutAllowanceExceeded: 0,
    bwInAllowanceExceeded: 0,
    ppsAllowanceExceeded: 0,
  };
  private readonly ebsMeter: EbsMeter = {
    ios: 0,
    instanceIopsExceeded: 0,
    instanceThroughputExceeded: 0,
    volumeIopsExceeded: 0,
    volumeThroughputExceeded: 0,
  };
  /** Hypercalls charged from outside (the memory model), counted in the next interval. */
  pendingHypercalls: Partial<Record<Hypercall, number>> = {};
  /** Whether pendingHypercalls holds any: the common case, none, costs each interval one test. */
  private pending = false;
  /** This interval's dom0 work for the guest's network and for its disks, each on threads of its own. */
  dom0Net = 0;
  dom0Blk = 0;
  /**
   * The guest's memory model, which its workload drives by sample and whose counts price its first touches
   * and TLB misses; null for a PV guest without one (its walks are native). Set with `attachMemory`.
   */
  memory: VmMemory | null = null;
  /** Samples the memory model holds, as this guest last knew: the rates below are read again when it moves. */
  private memorySamples = 0;
  /** The workload's memory events since the last sample: seconds, TLB misses, first touches, table updates. */
  readonly memoryPending = new Float64Array(4);
  /** A sample changed the memory model since the host last asked. */
  memorySampled = false;
  /**
   * The draws of the memory side (the samples, and the exits their counts price), apart from `rng` so that
   * when and how the memory model is sampled leaves the rest of the guest's intervals as they were.
   */
  declare readonly memoryRng: Rng;
  private readonly random = (): number => this.memoryRng.next();
  /**
   * What the memory model's counts make of one event, read again after each sample or a change of workload
   * or memory model: the share of 4 KiB misses left at its page size, EPT violations per first touch, and
   * nested references per miss. `ratesOf` says for which workload and memory model they were read.
   */
  private readonly rates = { missShare: 1, violationsPerNewPage: 0, nestedRefsPerMiss: 0 };
  private ratesOf: { params: WorkloadParams | null; samples: number } = { params: null, samples: -1 };

  /** Full-speed demand of the interval: driven by computation, and driven by I/O. */
  readonly cpuPart = new Float64Array(VM_FIELDS);
  readonly ioPart = new Float64Array(VM_FIELDS);
  /** Hypercalls charged into this interval: they have happened, so the host counts them unscaled. */
  readonly charged = new Float64Array(VM_FIELDS);
  charges = false;

  private readonly exitCost = new Float64Array(EXIT_REASONS.length);
  declare private readonly userspaceExitCost: number;
  private readonly hcCost = new Float64Array(HYPERCALLS.length);
  private readonly trapCost = new Float64Array(PV_TRAPS.length);
  declare private readonly dom0HypercallCost: number;
  declare private readonly costs: CycleCosts;
  declare private readonly traits: HypervisorTraits;

  constructor({ id, caps, spec, seed, host, options = {} }: GuestCpuInit) {
    this.id = id;
    this.caps = { ...caps };
    this.seed = seed >>> 0;
    this.rng = new Rng(this.seed);
    this.memoryRng = new Rng(this.seed ^ MEMORY_SEED);
    this.options = { ...options };
    const { kind, optimizations, costs, traits } = host;
    this.mode = kind === "xen" ? (options.mode ?? host.xenGuestMode) : "hvm";
    this.opt = {
      ...optimizations,
      largePages: options.largePages ?? optimizations.largePages,
      pvDrivers: options.pvDrivers ?? optimizations.pvDrivers,
      sriov: options.sriov ?? optimizations.sriov,
    };
    this.weight = options.weight ?? 1;
    if (!(this.weight > 0)) throw new RangeError("weight must be positive");
    this.spec = spec;
    this.params = resolveWorkload(spec);
    this.net = netPath(kind, this.mode, this.opt, options.sriovAdapter);
    this.blk = blockPath(kind, this.mode, this.opt);
    this.netBe = netBackend(kind, this.net);
    this.blkBe = blockBackend(kind, this.blk);
    this.costs = costs;
    this.traits = traits;
    this.allowances = allowancesFor(this.caps);
    this.volumeLimits = options.volume ? volumeLimits(options.volume, kind) : NO_VOLUME_LIMITS;
    this.credits = fullCredits(this.allowances);
    const a = this.allowances;
    this.bursts = a.netIn.capacity + a.netOut.capacity + a.ebsIops.capacity + a.ebsBytes.capacity > 0;
    EXIT_REASONS.forEach((r, i) => {
      this.exitCost[i] = costs.vmExitRoundTrip + costs.exitHandler[r];
    });
    this.userspaceExitCost = costs.userspaceExitRoundTrip + costs.exitHandler.io_instruction;
    // An HVM guest reaches Xen through VMCALL, so each hypercall pays a VM exit round trip.
    const hcEntry = this.mode === "pv" ? costs.pvHypercallEntry : this.exitCost[X.vmcall - EXIT0];
    HYPERCALLS.forEach((h, i) => {
      this.hcCost[i] = hcEntry + costs.hypercallHandler[h];
    });
    PV_TRAPS.forEach((t, i) => {
      this.trapCost[i] = costs.pvHypercallEntry + costs.pvTrapHandler[t];
    });
    this.dom0HypercallCost = costs.pvHypercallEntry + costs.hypercallHandler.grant_table_op;
  }

  get volumeType(): EbsVolume["type"] | null {
    return this.options.volume?.type ?? null;
  }

  /**
   * Gives the guest its memory model (or none), whose samples so far price its events from now on. A memory
   * model the workload has not run on yet boots for it first, with one sample of each kind of event.
   */
  attachMemory(memory: VmMemory | null): void {
    if (memory && !memory.workload) {
      const boot = new Rng(BOOT_SEED);
      bootWorkload(memory, this.params.writeShare, () => boot.next());
      this.memorySampled = true;
    }
    this.memory = memory;
    this.memorySamples = memory ? workloadSamples(memory) : 0;
    this.ratesOf = { params: null, samples: -1 };
  }

  setWorkload(spec: WorkloadSpec): void {
    this.params = resolveWorkload(spec);
    this.spec = spec;
  }

  private exit(v: Float64Array, field: number, n: number): void {
    v[field] += n;
    v[F.vmmCycles] += n * this.exitCost[field - EXIT0];
  }

  private hypercall(v: Float64Array, field: number, n: number): void {
    v[field] += n;
    v[F.vmmCycles] += n * this.hcCost[field - HC0];
    if (this.mode === "hvm") v[X.vmcall] += n;
  }

  private trap(v: Float64Array, field: number, n: number): void {
    v[field] += n;
    v[F.vmmCycles] += n * this.trapCost[field - TRAP0];
  }

  /** Exits that a user-space device model must answer (emulated registers, QEMU-backed kicks). */
  private userspaceExit(v: Float64Array, n: number): void {
    v[X.io_instruction] += n;
    v[F.vmmCycles] += n * this.userspaceExitCost;
  }

  private guestWork(v: Float64Array, cycles: number, kernelShare: number): void {
    v[F.guestCycles] += cycles;
    v[F.guestKernelCycles] += cycles * kernelShare;
  }

  /** Device interrupts: posted ones reach a running vCPU without an exit; others exit and EOI through the APIC. */
  private deviceInterrupts(v: Float64Array, n: number, busyFrac: number, hardware: boolean): void {
    if (n <= 0) return;
    if (this.mode === "pv") {
      // A physical IRQ Xen turns into an event; the PV guest acknowledges it with PHYSDEVOP_eoi.
      if (hardware) {
        v[F.vmmCycles] += n * this.costs.exitHandler.external_interrupt;
        this.hypercall(v, HC.physdev_op, n);
      }
      return;
    }
    if (hardware && this.traits.postedInterrupts) return;
    const running = Math.round(n * busyFrac);
    this.exit(v, X.external_interrupt, running);
    this.exit(v, X.msr_write, running);
  }

  /** Pages the balloon should hold when the host is short of `shortfall` of guest memory. */
  private balloonTarget(shortfall: number): number {
    return this.opt.ballooning ? Math.round(shortfall * ((this.caps.memoryMiB * 1024) / 4)) : 0;
  }

  /** Adds hypercalls counted elsewhere to the next interval (see VmOptions.memoryModel). */
  chargeHypercalls(counts: Partial<Record<Hypercall, number>>): void {
    for (const h of HYPERCALLS) {
      const n = counts[h] ?? 0;
      if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`${h} must be a non-negative integer`);
      if (n > 0) {
        this.pendingHypercalls[h] = (this.pendingHypercalls[h] ?? 0) + n;
        this.pending = true;
      }
    }
  }

  /** Charges waiting for the next interval: a one-off a stretch cannot repeat. */
  chargesPending(): boolean {
    return this.pending;
  }

  /** Whether the next interval inflates or deflates the balloon: a one-off a stretch cannot repeat. */
  balloonPending(shortfall: number): boolean {
    return this.balloonTarget(shortfall) !== this.balloonedPages;
  }

  /**
   * Fills cpuPart and ioPart with this interval's demand at full speed. Over a stretch of `seconds` they
   * hold one second drawn from it, which the host counts `seconds` times: the burst chain runs through the
   * whole stretch and first touches are spread evenly over it; a balloon change must not be pending.
   */
  demand(ctx: DemandContext, seconds = 1): void {
    const c = this.cpuPart;
    const io = this.ioPart;
    c.fill(0);
    io.fill(0);
    this.dom0Net = 0;
    this.dom0Blk = 0;
    if (this.charges) {
      this.charged.fill(0);
      this.charges = false;
    }
    const p = this.params;
    const r = p.perBusySecond;
    const rng = this.rng;
    const costs = ctx.costs;
    const hz = ctx.freqHz;
    const vcpus = this.caps.vcpus;
    const hvm = this.mode === "hvm";

    const activity =
      seconds === 1 ? sampleActivity(p, rng, this) : sampleStretchActivity(p, rng, this, seconds);
    const busySec = Math.min(vcpus, p.utilization * activity * vcpus);

    // The guest's own computation, at native speed.
    this.guestWork(c, busySec * hz, p.kernelFraction);

    const timers = rng.count(r.timerInterrupts * busySec);
    const memPages = (this.caps.memoryMiB * 1024) / 4;
    if (hvm) {
      this.exit(c, X.cpuid, rng.count(r.cpuid * busySec));
      this.exit(c, X.msr_read, rng.count(r.msrRead * busySec));
      // Each guest timer is re-armed through the TSC-deadline MSR and fires as a host timer interrupt.
      this.exit(c, X.msr_write, rng.count(r.msrWrite * busySec) + timers);
      this.exit(c, X.external_interrupt, timers);
      this.exit(c, X.cr_access, rng.count(r.crAccess * busySec));
      this.exit(c, X.io_instruction, rng.count(r.ioInstruction * busySec));
      this.exit(c, X.apic_access, rng.count(r.apicAccess * busySec));
      // First touches fault into the host until it backs the page; then the EPT entry stays.
      const unbacked = Math.max(0, memPages - this.balloonedPages - this.backedPages);
      // Over a stretch every second touches as many, so no more than an even share of what is left.
      const room = seconds === 1 ? unbacked : Math.floor(unbacked / seconds);
      const touched = unbacked > 0 ? Math.min(room, rng.count(r.newPages * busySec)) : 0;
      this.backedPages += touched * seconds;
      const mem = this.memory;
      // Larger pages reach more of the working set, so fewer of the workload's accesses miss the TLB.
      const misses = rng.count(r.tlbMisses * busySec * this.memoryRates().missShare);
      this.driveMemory(ctx, seconds, misses, touched, Math.max(0, r.ptUpdates - r.newPages) * busySec);
      const rates = this.memoryRates();
      if (mem) {
        // The memory model counted what the sampled first touches and misses cost: EPT violations, and the
        // nested references of two-dimensional walks. The guest runs the same code, slower, so the walks'
        // cost lands in guest cycles.
        if (touched > 0) {
          this.exit(c, X.ept_violation, this.memoryRng.count(touched * rates.violationsPerNewPage));
        }
        const translation = misses * rates.nestedRefsPerMiss * costs.pageWalkReference;
        c[F.translationCycles] += translation;
        this.guestWork(c, translation, p.kernelFraction);
      }
    } else {
      // A PV guest runs on machine frames with Xen-validated page tables: native walks, paid for with
      // hypercalls on every page-table write.
      this.trap(c, TR.emulated_op, rng.count((r.msrRead + r.ioInstruction) * busySec));
      this.hypercall(c, HC.set_segment_base, rng.count(r.msrWrite * busySec));
      this.hypercall(c, HC.set_timer_op, timers);
      const cr3Loads = rng.count(r.crAccess * busySec);
      this.hypercall(c, HC.event_channel_op, rng.count(r.apicAccess * busySec));
      const ptUpdates = rng.count(r.ptUpdates * busySec);
      if (!this.options.memoryModel) {
        // Without a memory model to count them: a first touch faults and its PTE is one hypercall of
        // its own; the other writes are bulk work (fork, munmap, mprotect) Linux batches in lazy MMU mode.
        const faults = Math.min(ptUpdates, rng.count(r.newPages * busySec));
        this.hypercall(c, HC.mmuext_op, cr3Loads);
        this.hypercall(c, HC.mmu_update, faults + Math.ceil((ptUpdates - faults) / MMU_UPDATES_PER_BATCH));
      }
      this.trap(c, TR.syscall, rng.count(r.syscalls * busySec));
      const newPages = r.newPages * busySec;
      this.driveMemory(ctx, seconds, r.tlbMisses * busySec, newPages, Math.max(0, ptUpdates - newPages));
    }
    if (seconds === 1) this.chargePending();

    // Memory overcommit: the host swaps behind the guest's back, or the balloon makes the guest give pages up.
    let refaultIos = 0;
    if (ctx.memoryShortfall > 0 || this.balloonedPages > 0) {
      const target = this.balloonTarget(ctx.memoryShortfall);
      const delta = Math.abs(target - this.balloonedPages);
      if (delta > 0 && seconds > 1)
        throw new RangeError("a stretch cannot begin with a balloon change pending");
      if (delta > 0) {
        const ops = Math.ceil(delta / BALLOON_PAGES_PER_OP);
        if (this.mode === "pv" || this.traits.kind === "xen") this.hypercall(c, HC.memory_op, ops);
        else this.exit(c, X.io_instruction, ops);
        if (target > this.balloonedPages) this.backedPages = Math.max(0, this.backedPages - delta);
        this.balloonedPages = target;
      }
      const touches = r.pageTouches * busySec * ctx.memoryShortfall;
      if (this.opt.ballooning) {
        refaultIos = rng.count(touches * GUEST_REFAULT);
      } else {
        const faults = rng.count(touches * HOST_SWAP_HIT);
        c[F.swapFaults] += faults;
        if (hvm) c[X.ept_violation] += faults;
        c[F.vmmCycles] += faults * (hvm ? costs.vmExitRoundTrip + costs.hostSwapIn : costs.hostSwapIn);
      }
    }

    // Network and storage demand, loads relative to the type's baselines, metered by its allowances.
    const pktScale = packetCap(this.caps, p.packetBytes);
    const outOffered = rng.count(p.networkLoad * activity * pktScale);
    const inOffered = rng.count(p.networkInLoad * activity * pktScale);
    const packets = this.meterPackets(io, outOffered, inOffered, p.packetBytes, seconds);
    const ioOffered = rng.count(p.storageLoad * activity * ioCap(this.caps, p.ioBytes)) + refaultIos;
    const ios = this.meterIos(io, ioOffered, p.ioBytes, seconds);
    this.guestWork(io, packets * costs.guestPerPacket + ios * costs.guestPerIo, 1);

    const capCycles = vcpus * hz;
    const busyFrac = Math.min(1, (c[F.guestCycles] + io[F.guestCycles]) / capCycles);
    const netIrqs = this.network(io, packets, busyFrac);
    const blkIrqs = this.storage(io, ios, busyFrac);

    // Halts: an idle vCPU halts until a timer or an I/O completion wakes it.
    const idleVcpuSec = vcpus * (1 - busyFrac);
    if (idleVcpuSec > 0) {
      const idleWakes = rng.count(p.idleWakeupsPerSec * idleVcpuSec);
      const ioWakes = Math.round((netIrqs + blkIrqs) * (1 - busyFrac));
      const rate = (idleWakes + ioWakes) / idleVcpuSec;
      // A wake inside the halt-polling window finds the vCPU thread still on its core: no host switch.
      const missPoll = this.traits.haltPolling ? Math.exp(-rate * costs.haltPollNs * 1e-9) : 1;
      this.halts(c, idleWakes, missPoll);
      this.halts(io, ioWakes, missPoll);
    }
  }

  private meterPackets(io: Float64Array, out: number, inn: number, bytes: number, seconds: number): number {
    const m = this.netMeter;
    meterNetwork(m, this.allowances, this.credits, out, inn, bytes, seconds);
    const packets = m.packetsOut + m.packetsIn;
    const held = m.bwOutAllowanceExceeded + m.bwInAllowanceExceeded + m.ppsAllowanceExceeded;
    io[F.packets] = packets;
    io[F.packetsIn] = m.packetsIn;
    io[F.packetsThrottled] = held;
    io[F.bytesOut] = m.packetsOut * bytes;
    io[F.bytesIn] = m.packetsIn * bytes;
    io[F.bytesOutOffered] = out * bytes;
    io[F.bytesInOffered] = inn * bytes;
    io[F.bwOutAllowanceExceeded] = m.bwOutAllowanceExceeded;
    io[F.bwInAllowanceExceeded] = m.bwInAllowanceExceeded;
    io[F.ppsAllowanceExceeded] = m.ppsAllowanceExceeded;
    io[F.netThrottledSeconds] = held > 0 ? 1 : 0;
    return packets;
  }

  private meterIos(io: Float64Array, offered: number, bytes: number, seconds: number): number {
    const m = this.ebsMeter;
    meterEbs(m, this.allowances, this.volumeLimits, this.credits, offered, bytes, seconds);
    io[F.diskIos] = m.ios;
    io[F.diskIosThrottled] = offered - m.ios;
    io[F.ebsBytes] = m.ios * bytes;
    io[F.ebsBytesOffered] = offered * bytes;
    io[F.ebsIopsExceeded] = m.instanceIopsExceeded;
    io[F.ebsThroughputExceeded] = m.instanceThroughputExceeded;
    io[F.volumeIopsExceeded] = m.volumeIopsExceeded;
    io[F.volumeThroughputExceeded] = m.volumeThroughputExceeded;
    io[F.ebsThrottledSeconds] = offered > m.ios ? 1 : 0;
    return m.ios;
  }

  /**
   * Spends and earns credits for what the interval's record `r` says went through (the host may have
   * slowed the guest below what the allowances let through), over `seconds` intervals like it.
   */
  settleAllowances(r: Float64Array, seconds: number): void {
    // Without an "up to" figure there is no bucket: nothing to spend or earn.
    if (!this.bursts) return;
    const a = this.allowances;
    const c = this.credits;
    c.netOut = settle(a.netOut, c.netOut, r[F.bytesOut], seconds);
    c.netIn = settle(a.netIn, c.netIn, r[F.bytesIn], seconds);
    c.ebsIos = settle(a.ebsIops, c.ebsIos, r[F.diskIos], seconds);
    c.ebsBytes = settle(a.ebsBytes, c.ebsBytes, r[F.ebsBytes], seconds);
  }

  private chargePending(): void {
    if (!this.pending) return;
    for (const h of HYPERCALLS) {
      const n = this.pendingHypercalls[h];
      if (!n) continue;
      this.hypercall(this.charged, HC[h], n);
      this.charges = true;
    }
    this.pendingHypercalls = {};
    this.pending = false;
  }

  /**
   * The share of this interval's dom0 work its back ends can do on the threads they have: each runs on
   * its own (netQueues for the network), so one busy vif is held to what those threads move however idle
   * the rest of dom0. The I/O part is slowed as one, so the busier back end sets the pace.
   */
  dom0Share(hz: number, netQueues: number): number {
    let share = 1;
    if (this.dom0Net > netQueues * hz) share = (netQueues * hz) / this.dom0Net;
    if (this.dom0Blk > BLKBACK_THREADS * hz) share = Math.min(share, (BLKBACK_THREADS * hz) / this.dom0Blk);
    return share;
  }

  /**
   * Adds an interval's memory events (per second, over `seconds`) to those the next sample stands for,
   * and plays the sample once MEMORY_SAMPLE_SECONDS have passed and the host allows it (a catch-up in
   * stretches allows it at its last second only, so a long gap costs one sample, not one per stretch).
   */
  private driveMemory(
    ctx: DemandContext,
    seconds: number,
    misses: number,
    newPages: number,
    ptUpdates: number,
  ): void {
    const mem = this.memory;
    if (!mem) return;
    const pend = this.memoryPending;
    pend[0] += seconds;
    pend[1] += misses * seconds;
    pend[2] += newPages * seconds;
    pend[3] += ptUpdates * seconds;
    if (!ctx.memorySampling || pend[0] < MEMORY_SAMPLE_SECONDS) return;
    sampleWorkload(
      mem,
      {
        seconds: pend[0],
        misses: pend[1],
        newPages: pend[2],
        ptUpdates: pend[3],
        writeShare: this.params.writeShare,
      },
      this.random,
    );
    pend.fill(0);
    this.memorySamples = workloadSamples(mem);
    this.memorySampled = true;
  }

  /** The memory model's per-event counts (see `rates`), read again when a sample or a change made them stale. */
  private memoryRates(): { missShare: number; violationsPerNewPage: number; nestedRefsPerMiss: number } {
    const of = this.ratesOf;
    if (of.params === this.params && of.samples === this.memorySamples) return this.rates;
    const mem = this.memory;
    const r = this.rates;
    r.missShare = mem ? tlbMissShare(mem, this.params.perBusySecond.pageTouches * PAGE_BYTES) : 1;
    r.violationsPerNewPage = mem ? eptViolationsPerNewPage(mem) : 0;
    r.nestedRefsPerMiss = mem ? nestedRefsPerMiss(mem) : 0;
    this.ratesOf = { params: this.params, samples: this.memorySamples };
    return r;
  }

  private halts(v: Float64Array, n: number, missPoll: number): void {
    if (n <= 0) return;
    if (this.mode === "hvm") this.exit(v, X.hlt, n);
    else this.hypercall(v, HC.sched_op, n);
    // Out on halt, back in on wake-up.
    const switches = Math.round(2 * n * missPoll);
    v[F.contextSwitches] += switches;
    v[F.vmmCycles] += switches * this.costs.contextSwitch;
  }

  /**
   * What moving `packets` packets of one transfer costs along this guest's network path, priced as an
   * interval's packets are (the guest's stack, its exits and hypercalls, the back end, the card), with the
   * sending vCPU busy. A record of counters of its own: nothing of the guest's state changes.
   */
  priceTransfer(packets: number): Float64Array {
    const v = new Float64Array(VM_FIELDS);
    if (!(packets > 0)) return v;
    const dom0Net = this.dom0Net;
    this.guestWork(v, packets * this.costs.guestPerPacket, 1);
    this.network(v, packets, 1);
    this.dom0Net = dom0Net;
    return v;
  }

  private network(io: Float64Array, packets: number, busyFrac: number): number {
    if (packets <= 0) return 0;
    const costs = this.costs;
    const batches = Math.ceil(packets / PACKETS_PER_BATCH);
    switch (this.net) {
      case "ena":
        io[F.cardPackets] += packets;
        // ENA on a Nitro card, or on Xen (r4, m4.16xlarge) an SR-IOV function of the NIC with no card.
        if (this.traits.kind === "nitro") io[F.cardNs] += packets * CARD_NS_PER_PACKET;
        this.deviceInterrupts(io, batches, busyFrac, true);
        return batches;
      case "sriov_vf":
        // The NIC's virtual function moves the packets; Xen or the host still routes its interrupts.
        io[F.cardPackets] += packets;
        this.deviceInterrupts(io, batches, busyFrac, true);
        return batches;
      case "virtio":
        if (this.traits.userspaceDeviceModel) {
          this.userspaceExit(io, batches);
          io[F.backendCycles] += packets * costs.deviceModelPerPacket;
        } else {
          // ioeventfd: the kick is answered in the kernel and vhost does the copy on another thread.
          this.exit(io, X.io_instruction, batches);
          io[F.backendCycles] += packets * costs.vhostPerPacket;
        }
        this.deviceInterrupts(io, batches, busyFrac, false);
        return batches;
      case "netfront":
        this.hypercall(io, HC.event_channel_op, batches);
        this.dom0Net = packets * costs.netbackPerPacket + batches * this.dom0HypercallCost;
        io[F.dom0Cycles] += this.dom0Net;
        io[F.dom0Hypercalls] += batches;
        // HVM guests with PV drivers take the event as an interrupt on the callback vector.
        if (this.mode === "hvm") this.exit(io, X.external_interrupt, Math.round(batches * busyFrac));
        return batches;
      case "emulated": {
        const irqs = Math.ceil(packets / EMULATED_OPS_PER_BATCH);
        this.userspaceExit(io, packets * costs.emulatedAccessesPerOp);
        const work = packets * costs.deviceModelPerPacket;
        if (this.netBe === "dom0") {
          io[F.dom0Cycles] += work;
          this.dom0Net = work;
        } else io[F.backendCycles] += work;
        this.deviceInterrupts(io, irqs, busyFrac, false);
        return irqs;
      }
    }
  }

  private storage(io: Float64Array, ios: number, busyFrac: number): number {
    if (ios <= 0) return 0;
    const costs = this.costs;
    const batches = Math.ceil(ios / IOS_PER_BATCH);
    switch (this.blk) {
      case "nvme_card":
        io[F.cardIos] += ios;
        io[F.cardNs] += ios * CARD_NS_PER_IO;
        this.deviceInterrupts(io, batches, busyFrac, true);
        return batches;
      case "virtio_blk":
        if (this.traits.userspaceDeviceModel) {
          this.userspaceExit(io, batches);
          io[F.backendCycles] += ios * costs.deviceModelPerIo;
        } else {
          this.exit(io, X.io_instruction, batches);
          io[F.backendCycles] += ios * costs.vhostPerIo;
        }
        this.deviceInterrupts(io, batches, busyFrac, false);
        return batches;
      case "blkfront":
        this.hypercall(io, HC.event_channel_op, batches);
        // blkback maps each request's granted pages and unmaps them when it completes.
        this.dom0Blk = ios * costs.blkbackPerIo + 2 * ios * this.dom0HypercallCost;
        io[F.dom0Cycles] += this.dom0Blk;
        io[F.dom0Hypercalls] += 2 * ios;
        if (this.mode === "hvm") this.exit(io, X.external_interrupt, Math.round(batches * busyFrac));
        return batches;
      case "emulated": {
        this.userspaceExit(io, ios * costs.emulatedAccessesPerOp);
        const work = ios * costs.deviceModelPerIo;
        if (this.blkBe === "dom0") {
          io[F.dom0Cycles] += work;
          this.dom0Blk = work;
        } else io[F.backendCycles] += work;
        this.deviceInterrupts(io, ios, busyFrac, false);
        return ios;
      }
    }
  }
}
