// A host's CPU over simulated time, in whole 1 s intervals: guest demand, dom0 or host backends, the
// scheduler (pinned, credit, CFS) and the counters a Durable Object serves. Figures come from costs.ts.
import {
  type CostOverrides,
  type CycleCosts,
  EXIT_REASONS,
  HYPERCALLS,
  PV_TRAPS,
  resolveCosts,
} from "./costs";
import {
  CounterHistory,
  EXIT0,
  F,
  H,
  HC0,
  type HistorySnapshot,
  HOST_FIELDS,
  TRAP0,
  VM_FIELDS,
} from "./counters";
import { type BlockPath, type InstanceCaps, type NetPath, validateCaps } from "./devices";
import { type DemandContext, GuestCpu, type VmOptions } from "./guest";
import {
  type GuestMode,
  type HostDescription,
  type HypervisorKind,
  type HypervisorTraits,
  type ResolvedHost,
  resolveHost,
  TRAITS,
} from "./hypervisor";
import { PinMap, waterfill } from "./scheduler";
import type { WorkloadSpec } from "./workload";

export const INTERVAL_MS = 1000;
const CYCLE_FIELDS = [
  F.guestCycles,
  F.guestKernelCycles,
  F.translationCycles,
  F.vmmCycles,
  F.dom0Cycles,
  F.backendCycles,
];
/** Of the switches of an unpinned vCPU, the share that resume on another thread (CFS wake affinity keeps most home). */
const MIGRATING_SHARE = 0.3;

export class CpuCapacityError extends Error {
  override name = "CpuCapacityError";
}

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
  };
  memory: { swapFaults: number; balloonedPages: number; backedPages: number };
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
  };
  features: { ioOffloadCards: boolean; securityChip: boolean; scheduler: HypervisorTraits["schedulerName"] };
}

export interface VmSnapshot {
  id: string;
  caps: InstanceCaps;
  spec: WorkloadSpec;
  seed: number;
  options: VmOptions;
  rngState: number;
  burstOn: boolean;
  backedPages: number;
  balloonedPages: number;
  threads: number[];
  history: HistorySnapshot;
}

export interface HostCpuSnapshot {
  version: 1;
  host: HostDescription;
  nowMs: number;
  vms: VmSnapshot[];
  history: HistorySnapshot;
}

function pick<K extends string>(names: readonly K[], sum: Float64Array, from: number): Record<K, number> {
  const out = {} as Record<K, number>;
  names.forEach((n, i) => {
    out[n] = sum[from + i];
  });
  return out;
}

const pct = (part: number, whole: number): number => (whole > 0 ? (100 * part) / whole : 0);

export class HostCpu {
  readonly description: HostDescription;
  readonly host: ResolvedHost;
  readonly traits: HypervisorTraits;
  readonly costs: CycleCosts;
  readonly freqHz: number;
  nowMs: number;
  private readonly vms = new Map<string, GuestCpu>();
  private list: GuestCpu[] = [];
  private readonly pins: PinMap;
  private readonly poolThreads: number;
  private history = new CounterHistory(HOST_FIELDS);
  private readonly hostRec = new Float64Array(HOST_FIELDS);
  private readonly ctx: DemandContext;
  // Per-VM scratch for one interval, indexed like `list`.
  private scratch = {
    g: new Float64Array(0),
    s: new Float64Array(0),
    demand: new Float64Array(0),
    alloc: new Float64Array(0),
    contended: new Float64Array(0),
  };
  private byThread: number[][] = [];

  constructor(description: HostDescription, nowMs = 0) {
    this.description = structuredClone(description);
    this.host = resolveHost(description);
    this.traits = TRAITS[this.host.kind];
    this.costs = resolveCosts(description.costs as CostOverrides | undefined);
    this.freqHz = Math.round(this.costs.freqGhz * 1e9);
    const dom0Threads = this.host.dom0?.dedicated ? this.host.dom0.vcpus : 0;
    this.poolThreads = this.host.threads - dom0Threads;
    this.pins = new PinMap(this.host.threads, dom0Threads);
    this.nowMs = nowMs;
    this.ctx = { costs: this.costs, traits: this.traits, freqHz: this.freqHz, memoryShortfall: 0 };
  }

  get pinned(): boolean {
    return this.host.optimizations.cpuAffinity;
  }

  get vcpuLimit(): number {
    return Math.floor(this.poolThreads * this.host.overcommitRatio);
  }

  get vcpusAllocated(): number {
    let n = 0;
    for (const vm of this.list) n += vm.caps.vcpus;
    return n;
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
    const vm = new GuestCpu(
      vmId,
      caps,
      profile,
      seed,
      this.host.kind,
      this.host.optimizations,
      this.host.xenGuestMode,
      this.costs,
      this.traits,
      options,
    );
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
    this.attach(vm);
  }

  private attach(vm: GuestCpu): void {
    this.vms.set(vm.id, vm);
    this.relist();
  }

  removeVm(vmId: string): boolean {
    const vm = this.vms.get(vmId);
    if (!vm) return false;
    this.pins.release(vm.threads);
    this.vms.delete(vmId);
    this.relist();
    return true;
  }

  setProfile(vmId: string, profile: WorkloadSpec): void {
    this.vm(vmId).setWorkload(profile);
  }

  private vm(vmId: string): GuestCpu {
    const vm = this.vms.get(vmId);
    if (!vm) throw new RangeError(`no VM ${vmId} on this host`);
    return vm;
  }

  private relist(): void {
    this.list = [...this.vms.values()];
    const n = this.list.length;
    this.scratch = {
      g: new Float64Array(n),
      s: new Float64Array(n),
      demand: new Float64Array(n),
      alloc: new Float64Array(n),
      contended: new Float64Array(n),
    };
    this.byThread = Array.from({ length: this.host.threads }, () => []);
    this.list.forEach((vm, i) => {
      for (const t of vm.threads) this.byThread[t].push(i);
    });
  }

  /**
   * Moves the clock to `toMs` without simulating the time in between: nothing accrues for it.
   * For gaps too long to be worth stepping through second by second.
   */
  skipTo(toMs: number): void {
    if (!Number.isFinite(toMs)) throw new RangeError("toMs must be a finite number");
    if (toMs > this.nowMs) this.nowMs = toMs - ((toMs - this.nowMs) % INTERVAL_MS);
  }

  /** Runs every whole interval up to `toMs`; returns how many ran. Time never goes back. */
  advance(toMs: number): number {
    if (!Number.isFinite(toMs)) throw new RangeError("toMs must be a finite number");
    const n = Math.floor((toMs - this.nowMs) / INTERVAL_MS);
    for (let i = 0; i < n; i++) this.step();
    if (n > 0) this.nowMs += n * INTERVAL_MS;
    return Math.max(0, n);
  }

  private memoryShortfall(): number {
    if (this.host.memoryMiB <= 0) return 0;
    let guests = 0;
    for (const vm of this.list) guests += vm.caps.memoryMiB;
    const usable = this.host.memoryMiB - (this.host.dom0?.memoryMiB ?? 0);
    return guests > usable && guests > 0 ? (guests - Math.max(0, usable)) / guests : 0;
  }

  private step(): void {
    const vms = this.list;
    const n = vms.length;
    const hz = this.freqHz;
    const host = this.host;
    const { g, s, demand, alloc, contended } = this.scratch;
    this.ctx.memoryShortfall = this.memoryShortfall();

    let dom0Io = 0;
    let backendIo = 0;
    for (let i = 0; i < n; i++) {
      const vm = vms[i];
      vm.demand(this.ctx);
      dom0Io += vm.ioPart[F.dom0Cycles];
      backendIo += vm.ioPart[F.backendCycles];
    }

    // Work that is not a vCPU: dom0 on its own threads, or floating in the pool with priority over vCPUs.
    const poolCap = this.poolThreads * hz;
    const dom0 = host.dom0;
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
      if (io[F.dom0Cycles] > 0) gi = Math.min(gi, gDom0);
      if (io[F.backendCycles] > 0) gi = Math.min(gi, gFloat);
      g[i] = gi;
      const raw = cpu[F.guestCycles] + cpu[F.vmmCycles] + gi * (io[F.guestCycles] + io[F.vmmCycles]);
      const cap = vm.caps.vcpus * hz;
      s[i] = raw > cap ? cap / raw : 1;
      demand[i] = raw * s[i];
      alloc[i] = 0;
      contended[i] = 0;
    }

    const vcpuCap = Math.max(0, poolCap - floatingServed);
    if (this.pinned) this.schedulePinned(vcpuCap / this.poolThreads);
    else this.schedulePool(vcpuCap);

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
      const r = vm.rec;
      if (kc === 1 && ki === 1) {
        // Nothing slowed this VM: counts are already whole, only cycle fields need rounding.
        for (let k = 0; k < VM_FIELDS; k++) r[k] = cpu[k] + io[k];
        for (const k of CYCLE_FIELDS) r[k] = Math.round(r[k]);
      } else {
        for (let k = 0; k < VM_FIELDS; k++) r[k] = Math.round(cpu[k] * kc + io[k] * ki);
      }
      // Time slicing on a contended thread: each slice ends in a switch, paid out of the vCPU's own share.
      const sliceSwitches = contended[i] > 0 ? Math.round(contended[i] / slice) : 0;
      const switches = r[F.contextSwitches] + sliceSwitches;
      const migrations = this.pinned
        ? 0
        : Math.round(switches * MIGRATING_SHARE * (1 - 1 / this.poolThreads));
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
      vm.history.push(r);

      rec[H.guestCycles] += guest;
      rec[H.vmmCycles] += vmm;
      rec[H.backendCycles] += r[F.backendCycles];
      rec[H.dom0Cycles] += r[F.dom0Cycles];
      rec[H.ioBackendCycles] += r[F.backendCycles] + r[F.dom0Cycles];
      rec[H.stealCycles] += r[F.stealCycles];
      rec[H.cardPackets] += r[F.cardPackets];
      rec[H.cardIos] += r[F.cardIos];
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
    this.history.push(rec);
  }

  /** Nitro's way: each vCPU owns a thread; only threads shared by overcommit need sharing out. */
  private schedulePinned(threadCap: number): void {
    const vms = this.list;
    const { demand, alloc, contended } = this.scratch;
    const d = new Float64Array(8);
    const w = new Float64Array(8);
    const m = new Float64Array(8);
    const out = new Float64Array(8);
    for (const on of this.byThread) {
      if (on.length === 0) continue;
      if (on.length === 1) {
        const i = on[0];
        const want = demand[i] / vms[i].caps.vcpus;
        const got = Math.min(want, threadCap);
        alloc[i] += got;
        if (want > threadCap) contended[i] += got;
        continue;
      }
      const k = on.length;
      const dd = k <= d.length ? d : new Float64Array(k);
      const ww = k <= w.length ? w : new Float64Array(k);
      const mm = k <= m.length ? m : new Float64Array(k);
      const oo = k <= out.length ? out : new Float64Array(k);
      for (let j = 0; j < k; j++) {
        const i = on[j];
        dd[j] = demand[i] / vms[i].caps.vcpus;
        ww[j] = vms[i].weight;
        mm[j] = 1;
      }
      const busy = waterfill(k, dd, ww, mm, threadCap, oo);
      for (let j = 0; j < k; j++) {
        alloc[on[j]] += oo[j];
        if (busy) contended[on[j]] += oo[j];
      }
    }
  }

  /** Xen's credit scheduler and a host OS's CFS: any vCPU on any pool thread, fair shares by weight. */
  private schedulePool(capacity: number): void {
    const vms = this.list;
    const n = vms.length;
    const { demand, alloc, contended } = this.scratch;
    const d = new Float64Array(n);
    const w = new Float64Array(n);
    const m = new Float64Array(n);
    const out = new Float64Array(n);
    const credit = this.traits.schedulerName === "credit";
    for (let i = 0; i < n; i++) {
      const v = vms[i].caps.vcpus;
      d[i] = demand[i] / v;
      // Credit weights belong to the domain and are split among its vCPUs; CFS weighs each thread.
      w[i] = credit ? vms[i].weight / v : vms[i].weight;
      m[i] = v;
    }
    const busy = waterfill(n, d, w, m, capacity, out);
    for (let i = 0; i < n; i++) {
      alloc[i] = out[i] * m[i];
      if (busy) contended[i] = alloc[i];
    }
  }

  vmCounters(vmId: string, windowMs?: number): VmCpuCounters {
    const vm = this.vm(vmId);
    const { sum, seconds } = vm.history.window(windowMs);
    const exits = pick(EXIT_REASONS, sum, EXIT0);
    let totalExits = 0;
    for (const r of EXIT_REASONS) totalExits += exits[r];
    const guest = sum[F.guestCycles];
    const hv = sum[F.vmmCycles];
    const outside = hv + sum[F.dom0Cycles] + sum[F.backendCycles];
    const wanted = guest + hv + sum[F.stealCycles];
    return {
      vmId,
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
      },
      memory: {
        swapFaults: sum[F.swapFaults],
        balloonedPages: vm.balloonedPages,
        backedPages: vm.backedPages,
      },
    };
  }

  hostSummary(windowMs?: number): HostCpuSummary {
    const { sum, seconds } = this.history.window(windowMs);
    const guest = sum[H.guestCycles];
    const outside = sum[H.vmmCycles] + sum[H.backendCycles] + sum[H.dom0Cycles] + sum[H.hostOsCycles];
    const split = (hw: number, host: number, dom0: number): IoSplit => ({
      total: hw + host + dom0,
      inHardware: hw,
      onHostCpu: host,
      viaDom0: dom0,
    });
    const network = split(sum[H.cardPackets], sum[H.hostPackets], sum[H.dom0Packets]);
    const storage = split(sum[H.cardIos], sum[H.hostIos], sum[H.dom0Ios]);
    return {
      kind: this.host.kind,
      threads: this.host.threads,
      vms: this.list.length,
      vcpusAllocated: this.vcpusAllocated,
      vcpuLimit: this.vcpuLimit,
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
      },
      features: {
        ioOffloadCards: this.traits.ioOffloadCards,
        securityChip: this.traits.securityChip,
        scheduler: this.pinned
          ? "pinned"
          : this.traits.schedulerName === "pinned"
            ? "cfs"
            : this.traits.schedulerName,
      },
    };
  }

  /**
   * Plain JSON state. `history: "totals"` drops the per-second and per-minute rings (about 20 KB per VM
   * when full) and keeps running totals; window queries then cover only time simulated after the restore.
   */
  snapshot(options: { history?: "full" | "totals" } = {}): HostCpuSnapshot {
    const lean = options.history === "totals";
    return {
      version: 1,
      host: structuredClone(this.description),
      nowMs: this.nowMs,
      vms: this.list.map((vm) => ({
        id: vm.id,
        caps: { ...vm.caps },
        spec: structuredClone(vm.spec),
        seed: vm.seed,
        options: { ...vm.options },
        rngState: vm.rng.state,
        burstOn: vm.burstOn,
        backedPages: vm.backedPages,
        balloonedPages: vm.balloonedPages,
        threads: [...vm.threads],
        history: vm.history.snapshot(lean),
      })),
      history: this.history.snapshot(lean),
    };
  }

  static restore(snap: HostCpuSnapshot): HostCpu {
    if (snap.version !== 1) throw new RangeError(`unknown HostCpu snapshot version ${String(snap.version)}`);
    const h = new HostCpu(snap.host, snap.nowMs);
    for (const v of snap.vms) {
      const vm = new GuestCpu(
        v.id,
        v.caps,
        v.spec,
        v.seed,
        h.host.kind,
        h.host.optimizations,
        h.host.xenGuestMode,
        h.costs,
        h.traits,
        v.options,
      );
      vm.rng.state = v.rngState;
      vm.burstOn = v.burstOn;
      vm.backedPages = v.backedPages;
      vm.balloonedPages = v.balloonedPages;
      vm.threads = [...v.threads];
      vm.history = CounterHistory.restore(v.history);
      h.pins.take(vm.threads);
      h.vms.set(vm.id, vm);
    }
    h.relist();
    h.history = CounterHistory.restore(snap.history);
    return h;
  }
}
