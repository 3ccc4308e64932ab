// A host's CPU over simulated time, in whole 1 s intervals (and, to catch up a long gap at a bounded cost,
// stretches of them): guest demand, dom0 or host backends, the scheduler (scheduler/) and the counters a
// Durable Object serves. Figures come from costs.ts.
import { HostMemory, largePageSizes, packWorkload, unpackWorkload, type VmMemory } from "../memory";
import { catchUpPlan } from "./catch-up";
import {
  type CostOverrides,
  type CycleCosts,
  EXIT_REASONS,
  HYPERCALLS,
  type Hypercall,
  resolveCosts,
} from "./costs";
import * as counters from "./counters";
import { type Backend, type InstanceCaps, type NetPath, validateCaps } from "./devices";
import { type DemandContext, GuestCpu, type GuestHost, type VmOptions } from "./guest";
import {
  type HostDescription,
  type HypervisorTraits,
  type ResolvedHost,
  resolveHost,
  TRAITS,
} from "./hypervisor";
import { PinMap, type SchedulingRound, schedulerFor, type VcpuScheduler } from "./scheduler";
import {
  checkVersion,
  decodeMemory,
  encodeMemory,
  HOST_CPU_SNAPSHOT_VERSION,
  type HostCpuSnapshot,
  restoreGuest,
  snapshotGuest,
  type VmCpuSnapshot,
} from "./snapshot";
import { type HostCpuSummary, hostSummary, type VmCpuCounters, vmCounters } from "./summaries";
import type { WorkloadSpec } from "./workload";

// Counter slots read as this module's own consts, which V8 folds into the compiled steps (guest.ts).
const { CounterHistory, EXIT0, F, H, HC0, HOST_FIELDS, INTERVAL_MS, VM_FIELDS } = counters;

const CYCLE_FIELDS = [
  F.guestCycles,
  F.guestKernelCycles,
  F.translationCycles,
  F.vmmCycles,
  F.dom0Cycles,
  F.backendCycles,
];

/** Bytes of a memory model the CPU model keeps for itself: room for any host's guests (it is sparse). */
const OWN_MEMORY_BYTES = 2 ** 42;
const MIB = 1024 * 1024;

/**
 * What changed in a model's stored state since a store last took it (`HostCpu.takeChanges`): the host's
 * part (its clock and counters) and the guests added, removed or changed, or every guest at once.
 */
export interface CpuChanges {
  host: boolean;
  /** Every guest may have changed (the clock ran, which moves them all; or the store's copy is unknown). */
  all: boolean;
  /** Guests added, removed or changed, when not `all`: a removed one is no longer in `vmIds()`. */
  vms: ReadonlySet<string>;
}

export class CpuCapacityError extends Error {
  override name = "CpuCapacityError";
}

/** One transfer's packets priced on the host of one end (GuestCpu.priceTransfer). */
export interface TransferPrice {
  netPath: NetPath;
  backend: Backend;
  packets: number;
  /** The guest's own stack, the hypervisor's exits and hypercalls, a host back end, dom0: cycles. */
  guestCycles: number;
  vmmCycles: number;
  backendCycles: number;
  dom0Cycles: number;
  /** Time on the Nitro card, ns: the card's processors, not the host's. */
  cardNs: number;
  exits: number;
  hypercalls: number;
  freqHz: number;
  /** The type's sustained network bandwidth, each direction. */
  networkGbps: number;
}

export class HostCpu {
  declare readonly description: HostDescription;
  declare readonly host: ResolvedHost;
  declare readonly traits: HypervisorTraits;
  declare readonly costs: CycleCosts;
  declare readonly freqHz: number;
  declare nowMs: number;
  private readonly vms = new Map<string, GuestCpu>();
  private list: GuestCpu[] = [];
  declare private readonly pins: PinMap;
  declare private readonly poolThreads: number;
  declare private readonly scheduler: VcpuScheduler;
  declare private readonly guestHost: GuestHost;
  /**
   * The memory model the guests' workloads drive (memory/workload.ts): the host's own when it has one,
   * else one of this model's, with a VM for each HVM guest (paged as its large-pages switch says).
   */
  declare private memory: HostMemory;
  declare private readonly ownsMemory: boolean;
  private history = new CounterHistory(HOST_FIELDS);
  /** The scheduler and the scratch arrays know the current VM list. */
  private listed = false;
  private readonly hostRec = new Float64Array(HOST_FIELDS);
  /** One VM's record for the interval, reused for each in turn (one array stays in cache, not one per VM). */
  private readonly vmRec = new Float64Array(VM_FIELDS);
  /**
   * What changed since a store last took the changes. A model made or restored starts with everything
   * changed: what a store holds of it is not known here.
   */
  private changes = { host: true, all: true, vms: new Set<string>() };
  declare private readonly ctx: DemandContext;
  // Per-VM scratch for one interval, indexed like `list`.
  private scratch = {
    g: new Float64Array(0),
    s: new Float64Array(0),
    demand: new Float64Array(0),
    alloc: new Float64Array(0),
    contended: new Float64Array(0),
    dom0Share: new Float64Array(0),
  };

  /**
   * `memory`, when given, is the host's memory model: a guest's memory there must exist before the guest is
   * added here, and stays the caller's to create, store and destroy.
   */
  constructor(description: HostDescription, nowMs = 0, memory?: HostMemory) {
    this.description = structuredClone(description);
    this.ownsMemory = memory === undefined;
    this.memory = memory ?? new HostMemory(OWN_MEMORY_BYTES);
    this.host = resolveHost(description);
    this.traits = TRAITS[this.host.kind];
    this.costs = resolveCosts(description.costs as CostOverrides | undefined);
    this.freqHz = Math.round(this.costs.freqGhz * 1e9);
    const dom0Threads = this.host.dom0?.dedicated ? this.host.dom0.vcpus : 0;
    this.poolThreads = this.host.threads - dom0Threads;
    this.pins = new PinMap(this.host.threads, dom0Threads);
    this.scheduler = schedulerFor(this.host, this.traits, this.poolThreads);
    this.nowMs = nowMs;
    this.ctx = {
      costs: this.costs,
      traits: this.traits,
      freqHz: this.freqHz,
      memoryShortfall: 0,
      memorySampling: true,
    };
    this.guestHost = {
      kind: this.host.kind,
      optimizations: this.host.optimizations,
      xenGuestMode: this.host.xenGuestMode,
      costs: this.costs,
      traits: this.traits,
    };
  }

  get pinned(): boolean {
    return this.scheduler.name === "pinned";
  }

  get vcpuLimit(): number {
    return Math.floor(this.poolThreads * this.host.overcommitRatio);
  }

  get vcpusAllocated(): number {
    let n = 0;
    for (const vm of this.list) n += vm.caps.vcpus;
    return n;
  }

  /** What `packets` packets of one transfer cost VM `vmId` here; null when it is not on this host. */
  priceTransfer(vmId: string, packets: number): TransferPrice | null {
    const vm = this.vms.get(vmId);
    if (!vm) return null;
    const v = vm.priceTransfer(packets);
    let exits = 0;
    for (let i = 0; i < EXIT_REASONS.length; i++) exits += v[EXIT0 + i];
    let hypercalls = 0;
    for (let i = 0; i < HYPERCALLS.length; i++) hypercalls += v[HC0 + i];
    return {
      netPath: vm.net,
      backend: vm.netBe,
      packets,
      guestCycles: v[F.guestCycles],
      vmmCycles: v[F.vmmCycles],
      backendCycles: v[F.backendCycles],
      dom0Cycles: v[F.dom0Cycles],
      cardNs: v[F.cardNs],
      exits,
      hypercalls,
      freqHz: this.freqHz,
      networkGbps: vm.caps.networkGbps,
    };
  }

  vmIds(): string[] {
    return this.list.map((v) => v.id);
  }

  addVm(
    vmId: string,
    caps: InstanceCaps,
    profile: WorkloadSpec,
    seed: number,
    options: VmOptions = {},
  ): void {
    if (this.vms.has(vmId)) throw new RangeError(`VM ${vmId} is already on this host`);
    validateCaps(caps);
    if (this.vcpusAllocated + caps.vcpus > this.vcpuLimit) {
      throw new CpuCapacityError(
        `host admits ${this.vcpuLimit} vCPUs at overcommit ${this.host.overcommitRatio}; ` +
          `${this.vcpusAllocated} in use, ${caps.vcpus} asked`,
      );
    }
    const vm = new GuestCpu({ id: vmId, caps, spec: profile, seed, host: this.guestHost, options });
    if (options.threads) {
      if (options.threads.length !== caps.vcpus)
        throw new RangeError("threads must list one host thread per vCPU");
      if (options.threads.some((t) => !Number.isInteger(t) || t < 0 || t >= this.host.threads)) {
        throw new RangeError("threads must be host thread numbers");
      }
      vm.threads = [...options.threads];
      this.pins.take(vm.threads);
    } else {
      vm.threads = this.pins.assign(caps.vcpus);
    }
    vm.attachMemory(this.memoryOf(vm));
    this.attach(vm);
    this.changes.vms.add(vmId);
  }

  /**
   * The guest's memory model: the host's, or one made here, for an HVM guest. A paravirtual guest's walks
   * are native and its page-table writes are hypercalls the memory model charges as they happen
   * (VmOptions.memoryModel), so its workload does not play on its tables by sample.
   */
  private memoryOf(vm: GuestCpu): VmMemory | null {
    if (vm.mode !== "hvm") return null;
    const mem = this.memory;
    if (!this.ownsMemory || mem.hasVm(vm.id)) return mem.hasVm(vm.id) ? mem.vm(vm.id) : null;
    const mib = Math.max(2, Math.ceil(vm.caps.memoryMiB / 2) * 2);
    mem.createVm(vm.id, mib * MIB, {
      vcpus: Math.min(vm.caps.vcpus, 256),
      ...largePageSizes(vm.opt.largePages),
    });
    return mem.vm(vm.id);
  }

  /**
   * What changed since the last call: a store writes the host's part and the guests it names (each
   * with `snapshotHost` and `snapshotVm`), and no other. Running the clock changes every guest.
   */
  takeChanges(): CpuChanges {
    const c = this.changes;
    this.changes = { host: false, all: false, vms: new Set<string>() };
    return c;
  }

  hasVm(vmId: string): boolean {
    return this.vms.has(vmId);
  }

  /** The guests whose memory a workload sample changed since the last call. */
  takeMemorySampled(): string[] {
    const ids: string[] = [];
    for (const vm of this.list) {
      if (!vm.memorySampled) continue;
      vm.memorySampled = false;
      ids.push(vm.id);
    }
    return ids;
  }

  private attach(vm: GuestCpu): void {
    this.vms.set(vm.id, vm);
    this.relist();
  }

  removeVm(vmId: string): boolean {
    const vm = this.vms.get(vmId);
    if (!vm) return false;
    this.pins.release(vm.threads);
    if (this.ownsMemory && this.memory.hasVm(vmId)) this.memory.destroyVm(vmId);
    this.vms.delete(vmId);
    this.relist();
    this.changes.vms.add(vmId);
    return true;
  }

  setProfile(vmId: string, profile: WorkloadSpec): void {
    this.vm(vmId).setWorkload(profile);
    this.changes.vms.add(vmId);
  }

  /**
   * Hypercalls a VM made that another model counted (the memory model's mmu_update and mmuext_op for a
   * paravirtual guest): priced and counted in the VM's next interval, from the clock as it is now.
   */
  chargeHypercalls(vmId: string, counts: Partial<Record<Hypercall, number>>): void {
    this.vm(vmId).chargeHypercalls(counts);
    this.changes.vms.add(vmId);
  }

  private vm(vmId: string): GuestCpu {
    const vm = this.vms.get(vmId);
    if (!vm) throw new RangeError(`no VM ${vmId} on this host`);
    return vm;
  }

  private relist(): void {
    this.list = [...this.vms.values()];
    // The scheduler's thread map is rebuilt on the next step, once, however many VMs came or went.
    this.listed = false;
  }

  private prepareStep(): void {
    if (this.listed) return;
    const n = this.list.length;
    this.scratch = {
      g: new Float64Array(n),
      s: new Float64Array(n),
      demand: new Float64Array(n),
      alloc: new Float64Array(n),
      contended: new Float64Array(n),
      dom0Share: new Float64Array(n),
    };
    this.scheduler.setVms(this.list);
    this.listed = true;
  }

  /**
   * Moves the clock to `toMs` without simulating the time in between: nothing accrues for it.
   * For gaps too long to be worth stepping through second by second.
   */
  skipTo(toMs: number): void {
    if (!Number.isFinite(toMs)) throw new RangeError("toMs must be a finite number");
    if (toMs > this.nowMs) {
      const to = toMs - ((toMs - this.nowMs) % INTERVAL_MS);
      if (to !== this.nowMs) this.changes.host = true;
      this.nowMs = to;
    }
  }

  /** Runs every whole interval up to `toMs`; returns how many ran. Time never goes back. */
  advance(toMs: number): number {
    if (!Number.isFinite(toMs)) throw new RangeError("toMs must be a finite number");
    const n = Math.floor((toMs - this.nowMs) / INTERVAL_MS);
    for (let i = 0; i < n; i++) this.step();
    if (n > 0) {
      this.nowMs += n * INTERVAL_MS;
      this.changedAll();
    }
    return Math.max(0, n);
  }

  /**
   * Brings the clock to `toMs` at a bounded cost, however long the gap: at most CATCH_UP_MAX_STEPS steps
   * (catch-up.ts). The last minute runs second by second, as `advance` runs it; older time runs in a few
   * dozen stretches, each counted as one second drawn from it (see `step`). Returns the intervals covered
   * and the steps computed.
   *
   * What it approximates: a stretch's totals have the expected value of the seconds it stands for (every
   * per-second cap, batch and contention applies to the drawn second as to any other), but a wider spread,
   * since one second's counts and burst state stand for all of them (its jitter is drawn for the stretch's
   * average, which spreads as the seconds would). Same seed and calls, same result; not the numbers
   * `advance` gives over the same gap.
   */
  catchUp(toMs: number): { intervals: number; steps: number } {
    if (!Number.isFinite(toMs)) throw new RangeError("toMs must be a finite number");
    const n = Math.floor((toMs - this.nowMs) / INTERVAL_MS);
    if (n <= 0) return { intervals: 0, steps: 0 };
    const shortfall = this.memoryShortfall();
    const plan = catchUpPlan(
      n,
      this.list.some((vm) => vm.balloonPending(shortfall) || vm.chargesPending()),
    );
    let left = n;
    // A gap drawn in stretches samples each guest's memory at most once, at its last second; one stepped
    // second by second samples as `advance` does.
    const stretched = plan.length < n;
    for (const seconds of plan) {
      left -= seconds;
      this.ctx.memorySampling = !stretched || left === 0;
      this.step(seconds, left);
    }
    this.ctx.memorySampling = true;
    this.nowMs += n * INTERVAL_MS;
    this.changedAll();
    return { intervals: n, steps: plan.length };
  }

  /** A step moves every guest's counters and state, and the host's. */
  private changedAll(): void {
    this.changes.host = true;
    this.changes.all = true;
    this.changes.vms.clear();
  }

  private memoryShortfall(): number {
    if (this.host.memoryMiB <= 0) return 0;
    let guests = 0;
    for (const vm of this.list) guests += vm.caps.memoryMiB;
    const usable = this.host.memoryMiB - (this.host.dom0?.memoryMiB ?? 0);
    return guests > usable && guests > 0 ? (guests - Math.max(0, usable)) / guests : 0;
  }

  /**
   * One interval, or with `seconds` > 1 a stretch of that many: each guest's demand is one second drawn from
   * the stretch, scheduled like any second, and its record is counted `seconds` times. `followedBy` more
   * intervals will be stepped straight after (the history need not keep what they push out).
   */
  private step(seconds = 1, followedBy = 0): void {
    this.prepareStep();
    const vms = this.list;
    const n = vms.length;
    const hz = this.freqHz;
    const host = this.host;
    const { g, s, demand, alloc, contended, dom0Share } = this.scratch;
    this.ctx.memoryShortfall = this.memoryShortfall();
    const dom0 = host.dom0;
    const netQueues = dom0?.netbackQueues ?? 1;

    let dom0Io = 0;
    let backendIo = 0;
    for (let i = 0; i < n; i++) {
      const vm = vms[i];
      vm.demand(this.ctx, seconds);
      // A guest's back ends get no more of dom0 than their own threads, however idle the rest.
      dom0Share[i] = vm.dom0Share(hz, netQueues);
      dom0Io += vm.ioPart[F.dom0Cycles] * dom0Share[i];
      backendIo += vm.ioPart[F.backendCycles];
    }

    // Work that is not a vCPU: dom0 on its own threads, or floating in the pool with priority over vCPUs.
    const poolCap = this.poolThreads * hz;
    const dom0Base = dom0 ? dom0.baselineUtilization * dom0.vcpus * hz : 0;
    const hostOsDemand = host.hostOsUtilization * host.threads * hz;
    let gDom0 = 1;
    let floating = hostOsDemand + backendIo;
    if (dom0?.dedicated) {
      const room = Math.max(0, dom0.vcpus * hz - dom0Base);
      if (dom0Io > room) gDom0 = room / dom0Io;
    } else if (dom0) {
      floating += dom0Base + dom0Io;
    }
    const gFloat = floating > poolCap ? poolCap / floating : 1;
    const floatingServed = floating * gFloat;
    if (!dom0?.dedicated) gDom0 = gFloat;

    for (let i = 0; i < n; i++) {
      const vm = vms[i];
      const cpu = vm.cpuPart;
      const io = vm.ioPart;
      let gi = 1;
      if (io[F.dom0Cycles] > 0) gi = Math.min(gi, gDom0 * dom0Share[i]);
      if (io[F.backendCycles] > 0) gi = Math.min(gi, gFloat);
      g[i] = gi;
      const raw =
        cpu[F.guestCycles] +
        cpu[F.vmmCycles] +
        gi * (io[F.guestCycles] + io[F.vmmCycles]) +
        vm.charged[F.vmmCycles];
      const cap = vm.caps.vcpus * hz;
      s[i] = raw > cap ? cap / raw : 1;
      demand[i] = raw * s[i];
      alloc[i] = 0;
      contended[i] = 0;
    }

    const round: SchedulingRound = { demand, alloc, contended };
    this.scheduler.share(round, Math.max(0, poolCap - floatingServed));

    const slice = this.traits.timeSliceSec * hz;
    const rec = this.hostRec;
    rec.fill(0);
    for (let i = 0; i < n; i++) {
      const vm = vms[i];
      const f = demand[i] > 0 ? alloc[i] / demand[i] : 1;
      const kc = s[i] * f;
      const ki = g[i] * kc;
      const cpu = vm.cpuPart;
      const io = vm.ioPart;
      const r = this.vmRec;
      if (kc === 1 && ki === 1) {
        // Nothing slowed this VM: counts are already whole, only cycle fields need rounding.
        for (let k = 0; k < VM_FIELDS; k++) r[k] = cpu[k] + io[k];
        for (const k of CYCLE_FIELDS) r[k] = Math.round(r[k]);
      } else {
        for (let k = 0; k < VM_FIELDS; k++) r[k] = Math.round(cpu[k] * kc + io[k] * ki);
        // Whether an allowance held the guest back is a fact of the second, not a quantity to slow down.
        r[F.netThrottledSeconds] = io[F.netThrottledSeconds];
        r[F.ebsThrottledSeconds] = io[F.ebsThrottledSeconds];
        // Each count was rounded on its own: totals are made again from their rounded parts,
        // so what was held back is exactly the sum of why.
        r[F.packetsThrottled] =
          r[F.bwOutAllowanceExceeded] + r[F.bwInAllowanceExceeded] + r[F.ppsAllowanceExceeded];
        r[F.diskIosThrottled] =
          r[F.ebsIopsExceeded] +
          r[F.ebsThroughputExceeded] +
          r[F.volumeIopsExceeded] +
          r[F.volumeThroughputExceeded];
      }
      // Charged hypercalls happened already: whatever slowed the VM, each one counts.
      if (vm.charges) for (let k = 0; k < VM_FIELDS; k++) r[k] += vm.charged[k];
      vm.settleAllowances(r, seconds);
      // Time slicing on a contended thread: each slice ends in a switch, paid out of the vCPU's own share.
      const sliceSwitches = contended[i] > 0 ? Math.round(contended[i] / slice) : 0;
      const switches = r[F.contextSwitches] + sliceSwitches;
      const migrations = this.scheduler.migrations(switches);
      const allocCycles = Math.round(alloc[i]);
      const vmm = Math.min(
        allocCycles,
        r[F.vmmCycles] + sliceSwitches * this.costs.contextSwitch + migrations * this.costs.vcpuMigration,
      );
      const guestScaled = r[F.guestCycles];
      const guest = allocCycles - vmm;
      const shrink = guestScaled > 0 ? guest / guestScaled : 0;
      r[F.guestCycles] = guest;
      r[F.guestKernelCycles] = Math.round(r[F.guestKernelCycles] * shrink);
      r[F.translationCycles] = Math.round(r[F.translationCycles] * shrink);
      r[F.vmmCycles] = vmm;
      r[F.contextSwitches] = switches;
      r[F.vcpuMigrations] = migrations;
      r[F.capacityCycles] = vm.caps.vcpus * hz;
      r[F.stealCycles] = Math.round(demand[i]) - allocCycles;
      r[F.idleCycles] = r[F.capacityCycles] - guest - vmm - r[F.stealCycles];
      if (seconds === 1) vm.history.push(r);
      else vm.history.pushRepeated(r, seconds, followedBy);

      rec[H.guestCycles] += guest;
      rec[H.vmmCycles] += vmm;
      rec[H.backendCycles] += r[F.backendCycles];
      rec[H.dom0Cycles] += r[F.dom0Cycles];
      rec[H.ioBackendCycles] += r[F.backendCycles] + r[F.dom0Cycles];
      rec[H.stealCycles] += r[F.stealCycles];
      rec[H.cardPackets] += r[F.cardPackets];
      rec[H.cardIos] += r[F.cardIos];
      rec[H.cardNs] += r[F.cardNs];
      rec[H.bwInAllowanceExceeded] += r[F.bwInAllowanceExceeded];
      rec[H.bwOutAllowanceExceeded] += r[F.bwOutAllowanceExceeded];
      rec[H.ppsAllowanceExceeded] += r[F.ppsAllowanceExceeded];
      rec[H.netThrottledVmSeconds] += r[F.netThrottledSeconds];
      rec[H.ebsIopsExceeded] += r[F.ebsIopsExceeded];
      rec[H.ebsThroughputExceeded] += r[F.ebsThroughputExceeded];
      rec[H.volumeIopsExceeded] += r[F.volumeIopsExceeded];
      rec[H.volumeThroughputExceeded] += r[F.volumeThroughputExceeded];
      rec[H.ebsThrottledVmSeconds] += r[F.ebsThrottledSeconds];
      if (vm.netBe === "host") rec[H.hostPackets] += r[F.packets];
      else if (vm.netBe === "dom0") rec[H.dom0Packets] += r[F.packets];
      if (vm.blkBe === "host") rec[H.hostIos] += r[F.diskIos];
      else if (vm.blkBe === "dom0") rec[H.dom0Ios] += r[F.diskIos];
    }
    rec[H.capacityCycles] = host.threads * hz;
    rec[H.hostOsCycles] = Math.round(hostOsDemand * gFloat);
    rec[H.dom0Cycles] += Math.round(dom0Base * (dom0?.dedicated ? 1 : gFloat));
    rec[H.reservedThreadCycles] = dom0?.dedicated ? dom0.vcpus * hz : 0;
    rec[H.idleCycles] =
      rec[H.capacityCycles] -
      rec[H.guestCycles] -
      rec[H.vmmCycles] -
      rec[H.backendCycles] -
      rec[H.dom0Cycles] -
      rec[H.hostOsCycles];
    if (seconds === 1) this.history.push(rec);
    else this.history.pushRepeated(rec, seconds, followedBy);
  }

  vmCounters(vmId: string, windowMs?: number): VmCpuCounters {
    return vmCounters(this.vm(vmId), windowMs);
  }

  hostSummary(windowMs?: number): HostCpuSummary {
    return hostSummary(
      {
        kind: this.host.kind,
        threads: this.host.threads,
        vms: this.list.length,
        vcpusAllocated: this.vcpusAllocated,
        vcpuLimit: this.vcpuLimit,
        traits: this.traits,
        scheduler: this.scheduler.name,
      },
      this.history,
      windowMs,
    );
  }

  /**
   * Plain JSON state. `history: "totals"` drops the per-second and per-minute rings (about 20 KB per VM
   * when full) and keeps running totals; window queries then cover only time simulated after the restore.
   * A memory model of this model's own goes whole with the full state only; a lean one keeps what prices
   * the guests' events (their workload tallies) and starts their tables afresh, so samples after the
   * restore play on other tables than a run never interrupted. The host's memory model, when it has one,
   * is the host's to store.
   */
  snapshot(options: { history?: "full" | "totals" } = {}): HostCpuSnapshot {
    const lean = options.history === "totals";
    return {
      version: HOST_CPU_SNAPSHOT_VERSION,
      host: structuredClone(this.description),
      nowMs: this.nowMs,
      vms: this.list.map((vm) => this.guestSnapshot(vm, lean)),
      history: this.history.snapshot(lean),
      ...this.ownMemory(lean),
    };
  }

  /**
   * `snapshot` without its guests, its keys in the same order: for a store that keeps each guest apart
   * (`snapshotVm`) and writes the host's part only when `takeChanges` says it changed.
   */
  snapshotHost(options: { history?: "full" | "totals" } = {}): Omit<HostCpuSnapshot, "vms"> {
    const lean = options.history === "totals";
    return {
      version: HOST_CPU_SNAPSHOT_VERSION,
      host: structuredClone(this.description),
      nowMs: this.nowMs,
      history: this.history.snapshot(lean),
      ...this.ownMemory(lean),
    };
  }

  private ownMemory(lean: boolean): { memory?: unknown } {
    return this.ownsMemory && !lean ? { memory: encodeMemory(this.memory.snapshot()) } : {};
  }

  /** One guest's part of `snapshot`. */
  snapshotVm(vmId: string, options: { history?: "full" | "totals" } = {}): VmCpuSnapshot {
    return this.guestSnapshot(this.vm(vmId), options.history === "totals");
  }

  private guestSnapshot(vm: GuestCpu, lean: boolean): VmCpuSnapshot {
    const v = snapshotGuest(vm, lean);
    const w = vm.memory?.workload;
    if (lean && this.ownsMemory && w) v.memoryWorkload = Array.from(packWorkload(w, false));
    return v;
  }

  /** `memory` is the host's memory model, as for the constructor; without it the snapshot's own is used. */
  static restore(snap: HostCpuSnapshot, memory?: HostMemory): HostCpu {
    checkVersion(snap);
    const h = new HostCpu(snap.host, snap.nowMs, memory);
    if (!memory && snap.memory) h.memory = HostMemory.restore(decodeMemory(snap.memory));
    for (const v of snap.vms) {
      const vm = restoreGuest(v, h.guestHost);
      h.pins.take(vm.threads);
      const mem = h.memoryOf(vm);
      if (mem && v.memoryWorkload && !snap.memory) {
        mem.workload = unpackWorkload(Float64Array.from(v.memoryWorkload));
      }
      vm.attachMemory(mem);
      h.vms.set(vm.id, vm);
    }
    h.relist();
    h.history = CounterHistory.restore(snap.history);
    return h;
  }
}
