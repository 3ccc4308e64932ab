// One physical host's control state: its hardware, its VMs and their lifecycle, admission
// holds, and the events every change produces. Pure and deterministic: time, wall time
// and id generation are inputs. The Host Durable Object persists what this returns; the
// records and events themselves are in records.ts.

import { type Allocation, HostCapacity } from "./admission";
import { findInstanceType, offersEnhancedNetworking, type VirtualizationType } from "./catalog";
import {
  defaultOptimizations,
  HostCpu,
  type HostCpuSnapshot,
  type HostCpuSummary,
  type HostDescription,
  type Optimizations,
  type VmCpuCounters,
  type WorkloadSpec,
} from "./cpu";
import { MMU_HYPERCALLS } from "./hypercalls";
import {
  decide,
  durationOf,
  type InstanceAction,
  type InstanceState,
  occupiesHost,
  STATE_CODES,
  settlesTo,
} from "./lifecycle";
import {
  HostMemory,
  type HostMemorySnapshot,
  type HostMemorySummary,
  largePageSizes,
  PAGE_1G,
  PAGE_2M,
  PAGE_4K,
  type Translation,
  type VmMemoryOptions,
  type VmMemorySummary,
} from "./memory";
import type {
  FleetEvent,
  HostRecord,
  HostState,
  HostUsage,
  InstanceRecord,
  PageSizeName,
  PagingOptions,
  VmRecord,
} from "./records";
import { withoutTags } from "./records";
import { applyTagChange, type TagChange } from "./tags";

export interface Changes {
  upserted: VmRecord[];
  removed: InstanceRecord[];
  events: FleetEvent[];
}

export type ActResult =
  | { status: "ok"; instance: InstanceRecord }
  | { status: "illegal"; instance: InstanceRecord }
  /** Not on this host (never was, or left it): `departed` is its last record here, if any. */
  | { status: "not-here"; departed: InstanceRecord | null };

const MIB = 1024 * 1024;

const PAGE_SIZES: Record<PageSizeName, number> = { "4K": PAGE_4K, "2M": PAGE_2M, "1G": PAGE_1G };

/**
 * The memory model's options for an instance. A paravirtual guest pages directly (its tables are the
 * hardware's); an HVM guest runs on EPT, on Xen as on Nitro, or on shadow tables if it asks for the
 * pre-EPT way. Page sizes follow the host's large-pages switch unless the instance asks for its own.
 * Throws on a mode the virtualization type cannot have.
 */
export function memoryOptions(
  p: PagingOptions,
  virtualizationType: VirtualizationType,
  vcpus: number,
  threads: number[] = [],
  largePages = false,
): VmMemoryOptions {
  const pv = virtualizationType === "paravirtual";
  if (p.mode !== undefined && (p.mode === "direct") !== pv) {
    throw new RangeError(
      pv
        ? `mode must be "direct" for a paravirtual guest, whose own tables are the hardware's`
        : `mode "direct" is for paravirtual guests; an HVM guest runs on "ept" or "shadow"`,
    );
  }
  return {
    vcpus,
    // vCPUs pinned to host threads share those threads' TLBs with whatever else runs there.
    ...(threads.length === vcpus ? { threads } : {}),
    // The host's large-pages switch: 2 MiB leaves in both tables, or 4 KiB. A paravirtual guest has no
    // nested table; its physmap keeps the model's default grain, which sets the cost of building it.
    ...(pv ? { guestPageSize: largePageSizes(largePages).guestPageSize } : largePageSizes(largePages)),
    mode: p.mode ?? (pv ? "direct" : "ept"),
    ...(p.guestLevels ? { guestLevels: p.guestLevels } : {}),
    ...(p.eptLevels ? { eptLevels: p.eptLevels } : {}),
    ...(p.guestPageSize ? { guestPageSize: PAGE_SIZES[p.guestPageSize] } : {}),
    ...(p.eptPageSize ? { eptPageSize: PAGE_SIZES[p.eptPageSize] } : {}),
    ...(p.vpid !== undefined ? { vpid: p.vpid } : {}),
    ...(p.pcid !== undefined ? { pcid: p.pcid } : {}),
    ...(p.tagged !== undefined ? { tagged: p.tagged } : {}),
    ...(p.pageWalkCache ? { pageWalkCache: p.pageWalkCache } : {}),
  };
}

/** The faults one guest access took, and the VM exits they cost. */
export interface AccessFaults {
  guestPageFaults: number;
  eptViolations: number;
  eptMisconfigurations: number;
  vmExits: number;
  mmio: boolean;
}

function faultCounts(s: VmMemorySummary) {
  return { ...s.faults, vmExits: s.vmExits.total, hypercalls: s.hypercalls };
}

const emptyChanges = (): Changes => ({ upserted: [], removed: [], events: [] });

/** Longer gaps than this are skipped rather than stepped through by the CPU model. */
export const CPU_CATCHUP_MS = 60 * 60 * 1000;

/**
 * A host's optimization switches: its hypervisor's defaults, then its family's (a Xen host of a family
 * with enhanced networking gives its HVM guests SR-IOV, as EC2's c4, m4 and r4 did), then its own.
 */
export function hostOptimizations(host: HostRecord): Optimizations {
  const family = host.hypervisor === "xen" && offersEnhancedNetworking(host.family) ? { sriov: true } : {};
  return { ...defaultOptimizations(host.hypervisor), ...family, ...host.optimizations };
}

export function cpuDescription(host: HostRecord): HostDescription {
  const { hw } = host;
  const base: HostDescription = {
    kind: host.hypervisor,
    sockets: hw.sockets,
    coresPerSocket: hw.coresPerSocket,
    threadsPerCore: hw.threadsPerCore,
    memoryMiB: hw.memoryMiB,
    overcommitRatio: 1,
    optimizations: hostOptimizations(host),
  };
  // Xen's reservation is dom0, pinned to threads of its own; Nitro reserves no threads; a
  // hosted hypervisor's host OS reserves none either, and competes for all of them.
  return host.hypervisor === "xen"
    ? { ...base, dom0: { vcpus: hw.reservedThreads, memoryMiB: hw.reservedMemoryMiB, dedicated: true } }
    : base;
}

/** A stable per-instance seed, so an instance's workload is the same run after run. */
function seedOf(id: string): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * A change to an instance that holds no host (a stopped one terminated, or given a new
 * workload): its next record and the event that says so. No host object is involved.
 */
export function offHostChange(
  rec: InstanceRecord,
  change: { state?: InstanceState; workload?: WorkloadSpec; tags?: Record<string, string> },
  now: number,
  eventId: string,
): { instance: InstanceRecord; event: FleetEvent } {
  const moved = change.state !== undefined && change.state !== rec.state;
  const instance: InstanceRecord = {
    ...rec,
    version: rec.version + 1,
    ...(change.workload !== undefined ? { workload: change.workload } : {}),
    ...(change.tags !== undefined ? { tags: change.tags } : {}),
    ...(moved
      ? {
          state: change.state,
          stateCode: STATE_CODES[change.state!],
          stateTransitionTime: now,
          stateReason: "User initiated",
          terminatedAt: change.state === "terminated" ? now : rec.terminatedAt,
        }
      : {}),
  };
  const event: FleetEvent = {
    id: eventId,
    type: moved ? "instance.state-changed" : "instance.updated",
    time: now,
    hostId: null,
    instanceId: rec.instanceId,
    previousState: rec.state,
    state: instance.state,
    // A tag change carries the tags, so that D1's row takes them.
    instance: change.tags !== undefined ? { ...instance } : withoutTags(instance),
    host: null,
    hostRecord: null,
  };
  return { instance, event };
}

export class HostModel {
  host: HostRecord;
  usageVersion: number;
  readonly capacity: HostCapacity;
  readonly cpu: HostCpu;
  readonly memory: HostMemory;
  /** VMs whose memory changed since it was last stored, and VMs whose memory is gone. */
  readonly memoryChanged = new Set<string>();
  readonly memoryDropped = new Set<string>();
  private readonly vms = new Map<string, VmRecord>();
  private readonly newId: () => string;

  constructor(
    host: HostRecord,
    vms: readonly VmRecord[],
    usageVersion: number,
    newId: () => string,
    cpu: HostCpuSnapshot | null = null,
    memory: HostMemorySnapshot | null = null,
  ) {
    this.host = host;
    this.usageVersion = usageVersion;
    this.newId = newId;
    this.capacity = new HostCapacity(host.hw, vms.map(allocationOf));
    for (const vm of vms) this.vms.set(vm.instance.instanceId, vm);
    // The models run exactly the committed VMs, whatever the snapshots said.
    const running = new Set(
      this.list()
        .filter((v) => v.holdExpiresWallMs === null)
        .map((v) => v.instance.instanceId),
    );
    // Memory first: the CPU model's guests drive their memory models, which must exist.
    // The frame allocator works in 2 MiB units; an odd MiB at the top is left out.
    this.memory = memory
      ? HostMemory.restore(memory)
      : new HostMemory(Math.floor(host.hw.memoryMiB / 2) * 2 * MIB);
    for (const id of this.memory.vmIds()) {
      if (!running.has(id)) {
        this.memory.destroyVm(id);
        this.memoryDropped.add(id);
      }
    }
    for (const id of running) if (!this.memory.hasVm(id)) this.addMemoryVm(this.vms.get(id)!);
    this.cpu = cpu
      ? HostCpu.restore(cpu, this.memory)
      : new HostCpu(cpuDescription(host), host.createdAt, this.memory);
    for (const id of this.cpu.vmIds()) if (!running.has(id)) this.cpu.removeVm(id);
    const inCpu = new Set(this.cpu.vmIds());
    for (const id of running) if (!inCpu.has(id)) this.addCpuVm(this.vms.get(id)!);
    // Memory stored before its workload first ran has just booted for it: store that too.
    for (const id of this.cpu.takeMemorySampled()) this.memoryChanged.add(id);
  }

  /**
   * One guest access at `gva` in address space `asid`, as the hardware sees it: the first
   * attempt (which may fault), the faults the guest OS and the hypervisor handled, and the
   * translation the retried access got. The guests' workloads run up to `now` first: they
   * drive the memory the access finds.
   */
  access(
    instanceId: string,
    req: { asid: number; gva: number | bigint; vcpu: number; write: boolean },
    now: number,
  ): { first: Translation; handled: AccessFaults | null; final: Translation | null } | null {
    if (!this.memory.hasVm(instanceId)) return null;
    this.cpuAt(now);
    // Counted over the whole access: creating the process's first table is already a fault.
    const before = faultCounts(this.memory.vmSummary(instanceId));
    const first = this.memory.translate(instanceId, req.asid, req.gva, req.vcpu, req.write);
    this.memoryChanged.add(instanceId);
    if (first.fault === null) {
      this.chargeCpu(instanceId, before, now);
      return { first, handled: null, final: null };
    }
    const touched = this.memory.touch(instanceId, req.asid, req.gva, req.write, req.vcpu);
    const final = this.memory.translate(instanceId, req.asid, req.gva, req.vcpu, req.write);
    const after = this.chargeCpu(instanceId, before, now);
    return {
      first,
      handled: {
        guestPageFaults: after.guestPageFaults - before.guestPageFaults,
        eptViolations: after.eptViolations - before.eptViolations,
        eptMisconfigurations: after.eptMisconfigurations - before.eptMisconfigurations,
        vmExits: after.vmExits - before.vmExits,
        mmio: touched.mmio,
      },
      final,
    };
  }

  /**
   * The hypercalls the memory model counted for an access (a paravirtual guest's mmu_update and
   * mmuext_op) go to the CPU model, which prices them: one count, shown by both. Returns the counts after.
   */
  private chargeCpu(
    instanceId: string,
    before: ReturnType<typeof faultCounts>,
    now: number,
  ): ReturnType<typeof faultCounts> {
    const after = faultCounts(this.memory.vmSummary(instanceId));
    const delta: Partial<Record<(typeof MMU_HYPERCALLS)[number], number>> = {};
    for (const h of MMU_HYPERCALLS) delta[h] = after.hypercalls[h] - before.hypercalls[h];
    if (MMU_HYPERCALLS.some((h) => (delta[h] ?? 0) > 0) && this.cpu.vmIds().includes(instanceId)) {
      this.cpuAt(now).chargeHypercalls(instanceId, delta);
    }
    return after;
  }

  /** A VM's memory map as of `now`, up to which the workloads run first. */
  memorySummary(instanceId: string, now: number): VmMemorySummary | null {
    if (!this.memory.hasVm(instanceId)) return null;
    this.cpuAt(now);
    return this.memory.vmSummary(instanceId);
  }

  hostMemorySummary(now: number): HostMemorySummary {
    this.cpuAt(now);
    return this.memory.hostSummary();
  }

  private addMemoryVm(vm: VmRecord): void {
    const i = vm.instance;
    this.memory.createVm(
      i.instanceId,
      i.memoryMiB * MIB,
      memoryOptions(
        i.paging ?? {},
        i.virtualizationType ?? "hvm",
        i.vcpus,
        i.threads,
        this.host.optimizations?.largePages,
      ),
    );
    this.memoryChanged.add(vm.instance.instanceId);
  }

  /**
   * Runs the CPU model up to `now` (skipping what lies beyond its catch-up horizon). The
   * guests' workloads drive their memory models as it goes, so their memory may change too.
   */
  cpuAt(now: number): HostCpu {
    if (now - this.cpu.nowMs > CPU_CATCHUP_MS) this.cpu.skipTo(now - CPU_CATCHUP_MS);
    this.cpu.catchUp(now);
    for (const id of this.cpu.takeMemorySampled()) this.memoryChanged.add(id);
    return this.cpu;
  }

  cpuCounters(instanceId: string, now: number, windowMs?: number): VmCpuCounters | null {
    if (!this.cpu.vmIds().includes(instanceId)) return null;
    return this.cpuAt(now).vmCounters(instanceId, windowMs);
  }

  cpuSummary(now: number, windowMs?: number): HostCpuSummary {
    return this.cpuAt(now).hostSummary(windowMs);
  }

  /** The CPU model's state as stored: running totals, without the per-second rings. */
  cpuSnapshot(): HostCpuSnapshot {
    return this.cpu.snapshot({ history: "totals" });
  }

  /** `cpuSnapshot` without its VMs. */
  cpuHostSnapshot(): Omit<HostCpuSnapshot, "vms"> {
    return this.cpu.snapshotHost({ history: "totals" });
  }

  /** One VM's part of `cpuSnapshot`. */
  cpuVmSnapshot(instanceId: string): HostCpuSnapshot["vms"][number] {
    return this.cpu.snapshotVm(instanceId, { history: "totals" });
  }

  setWorkload(instanceId: string, spec: WorkloadSpec, now: number): { result: ActResult; changes: Changes } {
    const changes = emptyChanges();
    const vm = this.vms.get(instanceId);
    if (!vm || vm.holdExpiresWallMs !== null)
      return { result: { status: "not-here", departed: null }, changes };
    this.cpuAt(now).setProfile(instanceId, spec);
    vm.instance = { ...vm.instance, workload: spec, version: vm.instance.version + 1 };
    changes.upserted.push(vm);
    this.instanceEvent(changes, "instance.updated", now, vm.instance, vm.instance.state);
    return { result: { status: "ok", instance: vm.instance }, changes };
  }

  /**
   * Changes an instance's tags (sim/tags.ts); "illegal" when they would pass `maxTags`. The
   * event carries the new tags, as an instance's first event does, so that D1 takes them.
   */
  changeTags(
    instanceId: string,
    change: TagChange,
    maxTags: number,
    now: number,
  ): { result: ActResult; changes: Changes } {
    const changes = emptyChanges();
    const vm = this.vms.get(instanceId);
    if (!vm || vm.holdExpiresWallMs !== null)
      return { result: { status: "not-here", departed: null }, changes };
    const tags = applyTagChange(vm.instance.tags, change, maxTags);
    if (!tags) return { result: { status: "illegal", instance: vm.instance }, changes };
    vm.instance = { ...vm.instance, tags, version: vm.instance.version + 1 };
    changes.upserted.push(vm);
    this.instanceEvent(changes, "instance.updated", now, vm.instance, vm.instance.state, true);
    return { result: { status: "ok", instance: vm.instance }, changes };
  }

  private addCpuVm(vm: VmRecord): void {
    const i = vm.instance;
    const type = findInstanceType(i.instanceType);
    if (!type) throw new Error(`unknown instance type ${i.instanceType}`);
    this.cpu.addVm(
      i.instanceId,
      {
        vcpus: i.vcpus,
        memoryMiB: i.memoryMiB,
        networkGbps: type.networkGbps,
        networkBurstGbps: type.networkBurstGbps,
        ebsMbps: type.ebsBaselineMbps,
        ebsBurstMbps: type.ebsBurstMbps,
        ebsIops: type.ebsBaselineIops,
        ebsBurstIops: type.ebsBurstIops,
      },
      i.workload,
      seedOf(i.instanceId),
      {
        threads: i.threads,
        mode: i.virtualizationType === "paravirtual" ? "pv" : "hvm",
        // A Xen guest gets a virtual function only if its type has enhanced networking (and is HVM).
        ...(this.host.hypervisor === "xen"
          ? {
              sriov: type.enhancedNetworking !== null && hostOptimizations(this.host).sriov,
              sriovAdapter: type.enhancedNetworking === "ena" ? "ena" : "vf",
            }
          : {}),
        // The memory model counts this guest's page-table hypercalls (chargeCpu).
        memoryModel: true,
      },
    );
    // The guest's memory booted for its workload as it joined: stored with the VM's piece now, not
    // taken again (and compared for nothing) at the next call that runs the clock.
    for (const id of this.cpu.takeMemorySampled()) this.memoryChanged.add(id);
  }

  vm(id: string): VmRecord | undefined {
    return this.vms.get(id);
  }

  list(): VmRecord[] {
    return [...this.vms.values()];
  }

  usage(): HostUsage {
    return { version: this.usageVersion, state: this.host.state, capacity: this.capacity.summary() };
  }

  /** The earliest simulated time at which something settles by itself. */
  nextTransitionAt(): number | null {
    let next: number | null = null;
    for (const vm of this.vms.values()) {
      if (vm.transitionAt !== null && (next === null || vm.transitionAt < next)) next = vm.transitionAt;
    }
    return next;
  }

  nextHoldExpiryWallMs(): number | null {
    let next: number | null = null;
    for (const vm of this.vms.values()) {
      const t = vm.holdExpiresWallMs;
      if (t !== null && (next === null || t < next)) next = t;
    }
    return next;
  }

  created(now: number): Changes {
    const changes = emptyChanges();
    this.hostEvent(changes, "host.created", now, null);
    return changes;
  }

  /**
   * Maintenance and retirement only keep new instances away. A failure takes every
   * instance down at once, as EC2 does when the hardware under it dies: running ones
   * stop (their EBS state survives, they can start elsewhere), ones that never finished
   * launching or were already shutting down are terminated, and holds are dropped.
   */
  setState(state: HostState, now: number): Changes {
    const changes = emptyChanges();
    if (state === this.host.state) return changes;
    const previous = this.host.state;
    this.host = { ...this.host, state, ...(state === "failed" ? { failedAt: now } : {}) };
    if (state === "failed") {
      const held = this.list().filter((vm) => vm.holdExpiresWallMs !== null);
      const cancelled = this.cancel(held.map((vm) => vm.instance.instanceId));
      changes.removed.push(...cancelled.removed);
      for (const vm of this.list()) {
        const before = vm.instance.state;
        // An instance that has run before (pending again after a start) keeps its volumes
        // and stops; only a first launch that never ran, or a shutdown, ends terminated.
        const hasRun =
          before === "running" || before === "stopping" || (before === "pending" && vm.instance.version > 1);
        const to = hasRun ? "stopped" : "terminated";
        this.enter(vm, to, now, "Server.InternalError: the host under the instance failed");
        this.depart(vm, now, changes);
        this.instanceEvent(changes, "instance.state-changed", now, vm.instance, before);
      }
    }
    this.hostEvent(changes, "host.state-changed", now, previous);
    return changes;
  }

  /**
   * Admits as many of `instances` as fit, in order, pinning each. When at least
   * `commitIfAtLeast` fit they start pending at once; otherwise they are held until
   * `commit` or `cancel` (or until the hold expires), and nobody sees them.
   */
  admit(
    instances: readonly InstanceRecord[],
    now: number,
    opts: { commitIfAtLeast: number; holdExpiresWallMs: number },
  ): { admitted: string[]; changes: Changes } {
    const changes = emptyChanges();
    if (this.host.state !== "available") return { admitted: [], changes };
    const admitted: string[] = [];
    for (const inst of instances) {
      if (this.vms.has(inst.instanceId))
        throw new Error(`instance ${inst.instanceId} is already on this host`);
      const a = this.capacity.allocate(inst.instanceId, inst.vcpus, inst.memoryMiB, inst.nvmeGB);
      if (!a) break;
      const vm: VmRecord = {
        instance: {
          ...inst,
          hostId: this.host.hostId,
          zone: this.host.zone,
          hypervisor: this.host.hypervisor,
          threads: a.threads,
        },
        transitionAt: null,
        holdExpiresWallMs: opts.holdExpiresWallMs,
      };
      this.vms.set(inst.instanceId, vm);
      admitted.push(inst.instanceId);
    }
    if (admitted.length > 0 && admitted.length >= opts.commitIfAtLeast) {
      return { admitted, changes: this.commit(admitted, now) };
    }
    if (admitted.length > 0) this.usageVersion++;
    changes.upserted.push(...admitted.map((id) => this.vms.get(id)!));
    return { admitted, changes };
  }

  /** Turns holds into pending instances; ids that are not held here are ignored. */
  commit(ids: readonly string[], now: number): Changes {
    const changes = emptyChanges();
    for (const id of ids) {
      const vm = this.vms.get(id);
      if (!vm || vm.holdExpiresWallMs === null) continue;
      // A new launch comes from nowhere; a start comes from stopped.
      const previous = vm.instance.version === 0 ? null : vm.instance.state;
      vm.holdExpiresWallMs = null;
      this.enter(vm, "pending", now, previous === "stopped" ? "User initiated" : "");
      this.cpuAt(now);
      this.addMemoryVm(vm);
      this.addCpuVm(vm);
      changes.upserted.push(vm);
      this.instanceEvent(changes, "instance.state-changed", now, vm.instance, previous);
    }
    return changes;
  }

  /** Releases holds (a launch that could not reach its minimum, or an expired hold). */
  cancel(ids: readonly string[]): Changes {
    const changes = emptyChanges();
    for (const id of ids) {
      const vm = this.vms.get(id);
      if (!vm || vm.holdExpiresWallMs === null) continue;
      this.capacity.release(id);
      this.vms.delete(id);
      changes.removed.push(vm.instance);
    }
    if (changes.removed.length > 0) this.usageVersion++;
    return changes;
  }

  expireHolds(wallNow: number): Changes {
    const expired = this.list()
      .filter((vm) => vm.holdExpiresWallMs !== null && vm.holdExpiresWallMs <= wallNow)
      .map((vm) => vm.instance.instanceId);
    return this.cancel(expired);
  }

  act(instanceId: string, action: InstanceAction, now: number): { result: ActResult; changes: Changes } {
    const changes = emptyChanges();
    const vm = this.vms.get(instanceId);
    if (!vm || vm.holdExpiresWallMs !== null)
      return { result: { status: "not-here", departed: null }, changes };
    const outcome = decide(vm.instance.state, action);
    // A guest being migrated takes no lifecycle action until its migration ends.
    if (outcome.kind === "illegal" || vm.migration?.role === "outgoing")
      return { result: { status: "illegal", instance: vm.instance }, changes };
    if (outcome.kind === "reboot") {
      vm.instance = { ...vm.instance, version: vm.instance.version + 1 };
      changes.upserted.push(vm);
      this.instanceEvent(changes, "instance.rebooted", now, vm.instance, vm.instance.state);
    } else if (outcome.kind === "transition") {
      const previous = vm.instance.state;
      this.enter(vm, outcome.to, now, "User initiated");
      changes.upserted.push(vm);
      this.instanceEvent(changes, "instance.state-changed", now, vm.instance, previous);
    }
    return { result: { status: "ok", instance: vm.instance }, changes };
  }

  /** Completes every transition due by `now`, in the order they fall due. */
  settle(now: number): Changes {
    const changes = emptyChanges();
    const due = this.list()
      .filter((vm) => vm.transitionAt !== null && vm.transitionAt <= now)
      .sort(
        (a, b) =>
          a.transitionAt! - b.transitionAt! || (a.instance.instanceId < b.instance.instanceId ? -1 : 1),
      );
    for (const vm of due) {
      const at = vm.transitionAt!;
      const previous = vm.instance.state;
      const next = settlesTo(previous)!;
      this.enter(vm, next, at, vm.instance.stateReason);
      if (occupiesHost(next)) changes.upserted.push(vm);
      else this.depart(vm, at, changes);
      this.instanceEvent(changes, "instance.state-changed", at, vm.instance, previous);
    }
    return changes;
  }

  // ---- live migration (the steps are in fleet/migration-steps.ts; each is idempotent) ----

  /**
   * The destination's reservation for an incoming guest: capacity held through admission, as for a
   * launch, and invisible until the guest arrives or the hold lapses. Asking again changes nothing.
   */
  reserveIncoming(
    rec: InstanceRecord,
    migrationId: string,
    holdExpiresWallMs: number,
  ): { result: "reserved" | "arrived" | "no-capacity" | "unavailable"; changes: Changes } {
    const changes = emptyChanges();
    const vm = this.vms.get(rec.instanceId);
    if (vm?.migration?.id === migrationId)
      return { result: vm.holdExpiresWallMs === null ? "arrived" : "reserved", changes };
    if (vm || this.host.state !== "available") return { result: "unavailable", changes };
    const a = this.capacity.allocate(rec.instanceId, rec.vcpus, rec.memoryMiB, rec.nvmeGB);
    if (!a) return { result: "no-capacity", changes };
    const held: VmRecord = {
      instance: { ...rec, hostId: this.host.hostId, zone: this.host.zone, threads: a.threads },
      transitionAt: null,
      holdExpiresWallMs,
      migration: { id: migrationId, role: "incoming" },
    };
    this.vms.set(rec.instanceId, held);
    this.usageVersion++;
    changes.upserted.push(held);
    return { result: "reserved", changes };
  }

  /**
   * The guest resumes here: its reservation becomes the running instance, `rec` (its record on the
   * source at the switch) two versions on, so that the source's departure (one version on) never
   * overwrites it in the inventory, whichever arrives first.
   */
  arriveIncoming(
    rec: InstanceRecord,
    migrationId: string,
    now: number,
  ): { result: "arrived" | "not-reserved"; changes: Changes } {
    const changes = emptyChanges();
    const vm = this.vms.get(rec.instanceId);
    if (!vm || vm.migration?.id !== migrationId) return { result: "not-reserved", changes };
    if (vm.holdExpiresWallMs === null) return { result: "arrived", changes };
    const previousHost = rec.hostId;
    vm.instance = {
      ...rec,
      hostId: this.host.hostId,
      zone: this.host.zone,
      threads: vm.instance.threads,
      version: rec.version + 2,
      stateReason: `Live migration from ${previousHost ?? "another host"}`,
    };
    vm.holdExpiresWallMs = null;
    vm.transitionAt = null;
    vm.migration = null;
    this.usageVersion++;
    this.cpuAt(now);
    this.addCpuVm(vm);
    this.addMemoryVm(vm);
    changes.upserted.push(vm);
    this.instanceEvent(changes, "instance.migrated", now, vm.instance, vm.instance.state);
    return { result: "arrived", changes };
  }

  /** Gives back a reservation the guest never used (a failed or cancelled migration). */
  releaseIncoming(instanceId: string, migrationId: string): Changes {
    const vm = this.vms.get(instanceId);
    if (!vm || vm.migration?.id !== migrationId || vm.holdExpiresWallMs === null) return emptyChanges();
    return this.cancel([instanceId]);
  }

  /**
   * Marks the guest as migrating out, so no lifecycle action reaches it meanwhile; answers its record.
   * Only a running guest migrates.
   */
  markOutgoing(
    instanceId: string,
    migrationId: string,
  ): { result: "marked" | "not-running" | "busy"; instance: InstanceRecord | null; changes: Changes } {
    const changes = emptyChanges();
    const vm = this.vms.get(instanceId);
    if (!vm || vm.holdExpiresWallMs !== null) return { result: "not-running", instance: null, changes };
    if (vm.migration?.id === migrationId) return { result: "marked", instance: vm.instance, changes };
    if (vm.migration) return { result: "busy", instance: vm.instance, changes };
    if (vm.instance.state !== "running" || this.host.state === "failed")
      return { result: "not-running", instance: vm.instance, changes };
    vm.migration = { id: migrationId, role: "outgoing" };
    changes.upserted.push(vm);
    return { result: "marked", instance: vm.instance, changes };
  }

  /** The migration ended without a switch: the guest takes lifecycle actions again. */
  unmarkOutgoing(instanceId: string, migrationId: string): Changes {
    const changes = emptyChanges();
    const vm = this.vms.get(instanceId);
    if (!vm || vm.migration?.id !== migrationId) return changes;
    vm.migration = null;
    changes.upserted.push(vm);
    return changes;
  }

  /**
   * The guest runs on `destinationHostId` now: it leaves this host without a change of state, its
   * last record here saying where it went.
   */
  departOutgoing(
    instanceId: string,
    migrationId: string,
    destinationHostId: string,
    now: number,
  ): { result: "departed" | "gone"; changes: Changes } {
    const changes = emptyChanges();
    const vm = this.vms.get(instanceId);
    if (!vm || vm.migration?.id !== migrationId) return { result: "gone", changes };
    vm.instance = {
      ...vm.instance,
      version: vm.instance.version + 1,
      hostId: destinationHostId,
      threads: [],
    };
    vm.migration = null;
    this.usageVersion++;
    this.depart(vm, now, changes);
    this.instanceEvent(changes, "instance.migrated", now, vm.instance, vm.instance.state);
    return { result: "departed", changes };
  }

  /**
   * The guest had switched to a destination that then failed before this host heard of the switch:
   * in simulated time it went down with that host, so it leaves this one stopped, as a host failure
   * leaves a guest that has run.
   */
  loseOutgoing(
    instanceId: string,
    migrationId: string,
    reason: string,
    at: number,
  ): { result: "lost" | "gone"; changes: Changes } {
    const changes = emptyChanges();
    const vm = this.vms.get(instanceId);
    if (!vm || vm.migration?.id !== migrationId) return { result: "gone", changes };
    const before = vm.instance.state;
    vm.migration = null;
    this.enter(vm, "stopped", at, reason);
    this.depart(vm, at, changes);
    this.instanceEvent(changes, "instance.state-changed", at, vm.instance, before);
    return { result: "lost", changes };
  }

  /** Takes a VM that has stopped or terminated off the host: threads, memory, CPU model. */
  private depart(vm: VmRecord, at: number, changes: Changes): void {
    const id = vm.instance.instanceId;
    this.cpuAt(at).removeVm(id);
    // Stop and terminate give every frame back.
    this.memory.destroyVm(id);
    this.memoryChanged.delete(id);
    this.memoryDropped.add(id);
    this.capacity.release(id);
    this.vms.delete(id);
    changes.removed.push(vm.instance);
  }

  private enter(vm: VmRecord, state: InstanceState, at: number, reason: string): void {
    const leaves = !occupiesHost(state);
    const duration = durationOf(state, this.host.hypervisor, vm.instance.memoryMiB);
    vm.instance = {
      ...vm.instance,
      state,
      stateCode: STATE_CODES[state],
      version: vm.instance.version + 1,
      stateTransitionTime: at,
      stateReason: reason,
      hostId: leaves ? null : this.host.hostId,
      threads: leaves ? [] : vm.instance.threads,
      terminatedAt: state === "terminated" ? at : vm.instance.terminatedAt,
      launchTime: state === "pending" ? at : vm.instance.launchTime,
    };
    vm.transitionAt = settlesTo(state) ? at + duration : null;
    this.usageVersion++;
  }

  private instanceEvent(
    changes: Changes,
    type: FleetEvent["type"],
    time: number,
    instance: InstanceRecord,
    previousState: string | null,
    withTags = previousState === null,
  ): void {
    changes.events.push({
      id: this.newId(),
      type,
      time,
      hostId: this.host.hostId,
      instanceId: instance.instanceId,
      previousState,
      state: instance.state,
      // Tags only where they begin or change: the first event of an instance's life, a tag change.
      instance: withTags ? { ...instance } : withoutTags(instance),
      host: this.usage(),
      hostRecord: null,
    });
  }

  private hostEvent(changes: Changes, type: FleetEvent["type"], time: number, previous: string | null): void {
    this.usageVersion++;
    changes.events.push({
      id: this.newId(),
      type,
      time,
      hostId: this.host.hostId,
      instanceId: null,
      previousState: previous,
      state: this.host.state,
      instance: null,
      host: this.usage(),
      hostRecord: this.host,
    });
  }
}

function allocationOf(vm: VmRecord): Allocation {
  const i = vm.instance;
  return { id: i.instanceId, vcpus: i.vcpus, memoryMiB: i.memoryMiB, nvmeGB: i.nvmeGB, threads: i.threads };
}
