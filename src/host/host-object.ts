// The Host Durable Object: the single writer of one physical host. A thin shell around
// sim/host.ts: its RPC methods run the model inside call(), which settles what is due,
// stores the change and its events in one transaction (storage.ts, outbox.ts) and sets
// the alarm that settles transitions, expires holds and retries delivery.
import { DurableObject } from "cloudflare:workers";
import { type ClockState, newer, simNow, wallTimeAt } from "../sim/clock";
import type { HostCpuSummary, VmCpuCounters, WorkloadSpec } from "../sim/cpu";
import { type AccessFaults, type ActResult, type Changes, HostModel } from "../sim/host";
import type { InstanceAction } from "../sim/lifecycle";
import type { HostMemorySummary, Translation, VmMemorySummary } from "../sim/memory";
import type { MigrationParams, MigrationReport } from "../sim/migration";
import { type EndpointRequest, type EndpointResult, playEndpoint } from "../sim/network/endpoint";
import type { FleetEvent, HostRecord, HostState, HostUsage, InstanceRecord, VmRecord } from "../sim/records";
import { attestationPayload, base64url } from "../sim/security/attestation";
import { type GuestAccess, type GuestDataPlace, readGuest, writeGuest } from "../sim/security/guest-data";
import { auditHost } from "../sim/security/host-audit";
import type { CheckResult } from "../sim/security/isolation";
import type { BootRecord, BootStage } from "../sim/security/measured-boot";
import type { TagChange } from "../sim/tags";
import { answerParts, MEMORY_OWNERS_MAX, RECORDS_MAX, VM_PAGE_MAX } from "./answer";
import {
  BlockIo,
  type BlockIoCounters,
  type BlockIoLoad,
  type BlockIoTiming,
  type VolumeRates,
} from "./block-io";
import { CallGroups } from "./call-groups";
import { relayFor } from "./event-relay";
import { SqlFlowTable } from "./flows";
import { MetricsSampler, samplingPeriodMs } from "./metrics-sampler";
import { MIGRATION_HOLD_MS, planHere } from "./migration";
import { OUTBOX_RETRY_MS, Outbox } from "./outbox";
import {
  GROUP_MAX_CALLS,
  GROUP_MAX_RECORDS,
  opRecords,
  opSubjects,
  type PlacementOp,
  type PlacementOpResult,
} from "./placement-ops";
import { CLOSED_WHILE_IDLE, Residency } from "./residency";
import { HostSecurity } from "./security";
import { HostStorage } from "./storage";
import { HostTenancy, type Tenancy } from "./tenancy";

/**
 * What every call answers besides its own result: the events it caused, within the answer's
 * budget (answer.ts), how many it left out, and the host's use. No answer grows with the
 * number of VMs on the host: lists come a page at a time (vmPage, records).
 */
export interface HostCallResult<T> {
  result: T;
  events: FleetEvent[];
  eventsOmitted: number;
  usage: HostUsage;
}

/** The host and its counts; its VMs are read a page at a time. */
export interface HostView {
  host: HostRecord;
  usage: HostUsage;
  /** VMs that run here (holds of launches still deciding are not counted). */
  vmCount: number;
}

export interface ReconcileView extends HostView {
  heldCount: number;
  outboxPending: number;
  /** The fleet's verdict on the host's boot, as the host holds it (it admits nothing when true). */
  quarantined: boolean;
}

/** The host memory view as one caller sees it (hostMemory). */
export interface HostMemoryView extends HostMemorySummary {
  /** How many owners the caller may see by name; `owners` lists the largest of them. */
  ownerCount: number;
  /** The owners the caller may not see by name, together. */
  otherOwners: { vms: number; frames: number; bytes: number };
}

/** One VM in a page: what lists and comparisons need, without the record's tags and workload. */
export interface VmSummary {
  instanceId: string;
  /** The account that launched it (null for one launched before accounts existed). */
  accountId: string | null;
  instanceType: string;
  state: InstanceRecord["state"];
  version: number;
  hostId: string | null;
  vcpus: number;
  threads: number[];
  /** An admission hold: the launch has not committed, and nobody else sees it. */
  held: boolean;
}

export interface VmPage {
  vms: VmSummary[];
  /** The id to ask for the next page after; null on the last page. */
  next: string | null;
}

function summaryOf(vm: VmRecord): VmSummary {
  const i = vm.instance;
  return {
    instanceId: i.instanceId,
    accountId: i.accountId ?? null,
    instanceType: i.instanceType,
    state: i.state,
    version: i.version,
    hostId: i.hostId,
    vcpus: i.vcpus,
    threads: i.threads,
    held: vm.holdExpiresWallMs !== null,
  };
}

/** What a host answers about I/O of one of its instances: done, or why not. */
export type LocalIo<T> =
  | { status: "ok"; value: T }
  | { status: "not-running"; state: InstanceRecord["state"] }
  | { status: "not-here" };

/** One caller's part of a host call: its change to the model, and the instances it asked about. */
interface CallPart<T> {
  fn: (m: HostModel, now: number) => { result: T; changes: Changes[] };
  subjects: readonly string[];
}

/** How long an admission hold lives if the launch that made it never commits or cancels. */
const HOLD_MS = 60_000;
const newId = () => crypto.randomUUID();

export class HostObject extends DurableObject<Env> {
  private readonly store: HostStorage;
  private readonly outbox: Outbox;
  private readonly metrics: MetricsSampler;
  private readonly blockIo: BlockIo;
  private readonly security: HostSecurity;
  private readonly tenancy: HostTenancy;
  private readonly placements = new CallGroups<
    { op: PlacementOp; clock: ClockState },
    HostCallResult<PlacementOpResult>
  >((parts) => this.placeGroup(parts), {
    maxParts: GROUP_MAX_CALLS,
    weight: (p) => opRecords(p.op),
    maxWeight: GROUP_MAX_RECORDS,
  });
  private resident: HostModel | null = null;
  private readonly residency: Residency;
  private clock: ClockState | null = null;
  /** Simulated time never runs backwards here, even for a request carrying an older clock. */
  private lastNow = Number.NEGATIVE_INFINITY;
  /** The alarm this object last set (null: none); undefined when it does not know. */
  private alarmAt: number | null | undefined = undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new HostStorage(ctx.storage);
    // Through a relay, which sends many hosts' events in few messages (event-relay.ts).
    this.outbox = new Outbox(this.store.sql, relayFor(env, ctx.id.name ?? ctx.id.toString()));
    this.metrics = new MetricsSampler(this.store.sql, env.METRICS, samplingPeriodMs(env));
    this.blockIo = new BlockIo(this.store.sql);
    this.security = new HostSecurity(this.store.sql);
    this.tenancy = new HostTenancy(this.store.sql);
    this.residency = new Residency(
      Number(env.HOST_IDLE_RELEASE_MS ?? 0),
      () => {
        this.resident = null;
        this.store.forget();
        // Closing the object closes its database too (residency.ts); the next call opens both.
        try {
          ctx.abort(CLOSED_WHILE_IDLE);
        } catch {
          // The runtime throws to unwind whatever called abort; the object is closed either way.
        }
      },
      // Only a delivery under way (or events held for the caller's confirmation, which comes
      // within its request) keeps an idle object open: events that wait for a retry have the
      // alarm set for them, which opens the object again to deliver them.
      () => !this.outbox.busy && !this.outbox.held() && !this.metrics.busy,
    );
    ctx.blockConcurrencyWhile(async () => {
      this.store.migrate();
      this.load();
    });
  }

  /** The model, loaded again from storage if it was let go while idle (residency.ts). */
  private get model(): HostModel | null {
    if (this.residency.released) {
      this.residency.released = false;
      this.load();
    }
    this.residency.touch();
    return this.resident;
  }

  private set model(m: HostModel | null) {
    this.resident = m;
  }

  async init(host: HostRecord, clock: ClockState): Promise<HostCallResult<HostRecord>> {
    if (this.model) return this.call(clock, (m) => ({ result: m.host, changes: [] }));
    // The host record is stored with the host.created event, in the call's transaction.
    this.model = new HostModel(host, [], 0, newId);
    return this.call(clock, (m, now) => ({ result: m.host, changes: [m.created(now)] }));
  }

  /**
   * Makes the host (as init) and measures its boot in the same round trip, so that the fleet
   * can judge a new host's boot without calling it again (fleet/host-creation.ts).
   */
  async create(
    host: HostRecord,
    clock: ClockState,
    confirmWithinMs = 0,
  ): Promise<HostCallResult<{ host: HostRecord; record: BootRecord; quarantined: boolean }>> {
    return this.residency.during(async () => {
      // The caller mirrors the creation itself and then confirms it (`mirrored`): the event
      // waits in the outbox until then, and goes through the queue only if no confirmation came.
      if (confirmWithinMs > 0) this.outbox.hold(Date.now() + confirmWithinMs);
      const made = await this.init(host, clock);
      // Measured at the simulated time the creation ran (call() keeps it in lastNow).
      const record = await this.security.bootRecord(made.result, this.lastNow);
      return { ...made, result: { host: made.result, record, quarantined: this.security.quarantined } };
    });
  }

  /**
   * The caller wrote the events `eventIds` to D1 and fanned them out to webhooks: they leave
   * the outbox unsent (outbox.ts `drop`), and whatever else waits goes now.
   */
  async mirrored(eventIds: readonly string[]): Promise<void> {
    return this.residency.during(async () => {
      this.outbox.drop(eventIds);
      if (this.outbox.hasPending()) {
        this.ctx.waitUntil(
          this.residency.during(() => this.outbox.deliver().then(() => this.scheduleAlarm())),
        );
      }
      await this.scheduleAlarm();
    });
  }

  /** The host, its counts, and what its hypervisor spent over the last `cpuWindowMs`. */
  async describe(
    clock: ClockState,
    cpuWindowMs = 60_000,
  ): Promise<HostCallResult<HostView & { cpu: HostCpuSummary }>> {
    return this.call(clock, (m, now) => ({
      result: { ...this.view(m), cpu: m.cpuSummary(now, cpuWindowMs) },
      changes: [],
    }));
  }

  /**
   * The VMs here in order of id, `limit` (at most VM_PAGE_MAX) after `after`, held ones
   * included and marked. Reads without settling anything; null if the host was never created.
   */
  async vmPage(after: string | null, limit: number): Promise<VmPage | null> {
    const m = this.model;
    if (!m) return null;
    const n = Math.max(1, Math.min(limit, VM_PAGE_MAX));
    const ids = m
      .list()
      .map((v) => v.instance.instanceId)
      .filter((id) => after === null || id > after)
      .sort();
    const vms = ids.slice(0, n).map((id) => summaryOf(m.vm(id)!));
    return { vms, next: ids.length > n ? ids[n - 1] : null };
  }

  /**
   * The whole records of `ids` (at most RECORDS_MAX): those that run here, and the last
   * record here of those that left. Reads without settling anything.
   */
  async records(ids: string[]): Promise<{ onHost: InstanceRecord[]; departed: InstanceRecord[] } | null> {
    const m = this.model;
    if (!m) return null;
    if (ids.length > RECORDS_MAX) throw new RangeError(`at most ${RECORDS_MAX} records in one call`);
    const onHost: InstanceRecord[] = [];
    const departed: InstanceRecord[] = [];
    for (const id of ids) {
      const vm = m.vm(id);
      if (vm && vm.holdExpiresWallMs === null) onHost.push(vm.instance);
      else if (!vm) {
        const last = this.store.departed(id);
        if (last) departed.push(last);
      }
    }
    return { onHost, departed };
  }

  async admit(
    instances: InstanceRecord[],
    commitIfAtLeast: number,
    clock: ClockState,
    tenancy: Tenancy = "default",
  ): Promise<HostCallResult<string[]>> {
    const a = await this.place({ op: "admit", instances, commitIfAtLeast, tenancy }, clock);
    return a as HostCallResult<string[]>;
  }

  async commit(ids: string[], clock: ClockState): Promise<HostCallResult<null>> {
    return (await this.place({ op: "commit", ids }, clock)) as HostCallResult<null>;
  }

  async cancel(ids: string[], clock: ClockState): Promise<HostCallResult<null>> {
    return (await this.place({ op: "cancel", ids }, clock)) as HostCallResult<null>;
  }

  /**
   * Several admissions, commits and cancels as one host call, in order, each answered as if it
   * had been a call of its own; all applied, or none (the call throws). At most GROUP_MAX_CALLS
   * ops and GROUP_MAX_RECORDS records.
   */
  async placeMany(ops: PlacementOp[], clock: ClockState): Promise<HostCallResult<PlacementOpResult>[]> {
    const records = ops.reduce((n, op) => n + opRecords(op), 0);
    if (ops.length === 0 || ops.length > GROUP_MAX_CALLS || records > GROUP_MAX_RECORDS) {
      throw new RangeError(
        `1 to ${GROUP_MAX_CALLS} ops and at most ${GROUP_MAX_RECORDS} records in one call (${ops.length} ops, ${records} records)`,
      );
    }
    return this.residency.during(() => this.placements.submit(ops.map((op) => ({ op, clock }))));
  }

  /** A placement call joins the next group of them (call-groups.ts). */
  private async place(op: PlacementOp, clock: ClockState): Promise<HostCallResult<PlacementOpResult>> {
    const [one] = await this.residency.during(() => this.placements.submit([{ op, clock }]));
    return one;
  }

  /** Runs a group of placement calls as one host call, at the newest clock any of them read. */
  private placeGroup(
    parts: { op: PlacementOp; clock: ClockState }[],
  ): Promise<HostCallResult<PlacementOpResult>[]> {
    const clock = parts.reduce((c, p) => newer(c, p.clock), parts[0].clock);
    return this.callParts(
      clock,
      parts.map(({ op }) => ({
        fn: (m: HostModel, now: number) => this.placementOp(m, now, op),
        subjects: opSubjects(op),
      })),
    );
  }

  private placementOp(
    m: HostModel,
    now: number,
    op: PlacementOp,
  ): { result: PlacementOpResult; changes: Changes[] } {
    if (op.op === "commit") return { result: null, changes: [m.commit(op.ids, now)] };
    if (op.op === "cancel") return { result: null, changes: [m.cancel(op.ids)] };
    // A host whose boot failed its attestation takes nothing new, whoever offers.
    if (this.security.quarantined) return { result: [], changes: [] };
    // A dedicated host takes only its owner's dedicated launches; a shared one none of those.
    const admissible = this.tenancy.admissible(op.instances, op.tenancy);
    if (admissible.length === 0) return { result: [], changes: [] };
    const { admitted, changes } = m.admit(admissible, now, {
      commitIfAtLeast: op.commitIfAtLeast,
      holdExpiresWallMs: Date.now() + HOLD_MS,
    });
    return { result: admitted, changes: [changes] };
  }

  async act(
    instanceId: string,
    action: InstanceAction,
    clock: ClockState,
  ): Promise<HostCallResult<ActResult>> {
    return this.instanceCall(instanceId, clock, (m, now) => m.act(instanceId, action, now));
  }

  async setWorkload(
    instanceId: string,
    spec: WorkloadSpec,
    clock: ClockState,
  ): Promise<HostCallResult<ActResult>> {
    return this.instanceCall(instanceId, clock, (m, now) => m.setWorkload(instanceId, spec, now));
  }

  async changeTags(
    instanceId: string,
    change: TagChange,
    maxTags: number,
    clock: ClockState,
  ): Promise<HostCallResult<ActResult>> {
    return this.instanceCall(instanceId, clock, (m, now) => m.changeTags(instanceId, change, maxTags, now));
  }

  /** A change to one instance; when it is not here, its last record here (if any) answers. */
  private instanceCall(
    instanceId: string,
    clock: ClockState,
    fn: (m: HostModel, now: number) => { result: ActResult; changes: Changes },
  ): Promise<HostCallResult<ActResult>> {
    return this.call<ActResult>(
      clock,
      (m, now) => {
        const { result, changes } = fn(m, now);
        if (result.status === "not-here") {
          return {
            result: { status: result.status, departed: this.store.departed(instanceId) },
            changes: [],
          };
        }
        return { result, changes: [changes] };
      },
      [instanceId],
    );
  }

  /** The CPU model's counters for one VM over the last `windowMs` of simulated time. */
  async cpu(
    instanceId: string,
    windowMs: number,
    clock: ClockState,
  ): Promise<HostCallResult<VmCpuCounters | null>> {
    return this.call(clock, (m, now) => ({ result: m.cpuCounters(instanceId, now, windowMs), changes: [] }), [
      instanceId,
    ]);
  }

  /** One guest memory access, walked step by step, with whatever faults it takes handled. */
  async memoryAccess(
    instanceId: string,
    req: { asid: number; gva: number | bigint; vcpu: number; write: boolean },
    clock: ClockState,
  ): Promise<
    HostCallResult<{ first: Translation; handled: AccessFaults | null; final: Translation | null } | null>
  > {
    return this.call(clock, (m, now) => ({ result: m.access(instanceId, req, now), changes: [] }), [
      instanceId,
    ]);
  }

  /** One end of a send through this host's virtual switch (sim/network/endpoint.ts). */
  async networkEndpoint(req: EndpointRequest, clock: ClockState): Promise<HostCallResult<EndpointResult>> {
    return this.call(
      clock,
      (m, now) => ({ result: playEndpoint(m, new SqlFlowTable(this.store.sql, now), req, now), changes: [] }),
      [req.instanceId],
    );
  }

  async memorySummary(
    instanceId: string,
    clock: ClockState,
  ): Promise<HostCallResult<VmMemorySummary | null>> {
    return this.call(clock, (m, now) => ({ result: m.memorySummary(instanceId, now), changes: [] }), [
      instanceId,
    ]);
  }

  /**
   * The host's frames; of their owners that `accountId` may see by name (every one when
   * null, the admin's view), the MEMORY_OWNERS_MAX largest and how many there are; the
   * other owners only together, anonymous.
   */
  async hostMemory(clock: ClockState, accountId: string | null): Promise<HostCallResult<HostMemoryView>> {
    return this.call(clock, (m, now) => {
      const { owners: all, ...summary } = m.hostMemorySummary(now);
      const named =
        accountId === null ? all : all.filter((o) => m.vm(o.vmId)?.instance.accountId === accountId);
      const others =
        accountId === null ? [] : all.filter((o) => m.vm(o.vmId)?.instance.accountId !== accountId);
      const owners = [...named]
        .sort((a, b) => b.frames - a.frames || (a.vmId < b.vmId ? -1 : 1))
        .slice(0, MEMORY_OWNERS_MAX);
      const otherOwners = {
        vms: others.length,
        frames: others.reduce((n, o) => n + o.frames, 0),
        bytes: others.reduce((n, o) => n + o.bytes, 0),
      };
      return { result: { ...summary, owners, ownerCount: named.length, otherOwners }, changes: [] };
    });
  }

  /**
   * Settles what is due. Given `instanceId`, its events come first in the answer, and the
   * result is its record here, or its last record here if it left (null if it never was).
   */
  async settle(clock: ClockState, instanceId?: string): Promise<HostCallResult<InstanceRecord | null>> {
    return this.call(
      clock,
      (m) => {
        if (!instanceId) return { result: null, changes: [] };
        const vm = m.vm(instanceId);
        const result = vm && vm.holdExpiresWallMs === null ? vm.instance : this.store.departed(instanceId);
        return { result, changes: [] };
      },
      instanceId ? [instanceId] : [],
    );
  }

  async setState(state: HostState, clock: ClockState): Promise<HostCallResult<HostRecord>> {
    return this.call(clock, (m, now) => {
      const changes = m.setState(state, now);
      return { result: m.host, changes: [changes] };
    });
  }

  /**
   * The host and its counts as the reconcile path compares them with D1, read without
   * changing anything; the VMs themselves come from vmPage and records.
   */
  async reconcileView(): Promise<ReconcileView | null> {
    const m = this.model;
    if (!m) return null;
    return {
      ...this.view(m),
      heldCount: m.list().filter((v) => v.holdExpiresWallMs !== null).length,
      outboxPending: this.outbox.pending(),
      quarantined: this.security.quarantined,
    };
  }

  /**
   * One EBS I/O of `bytes` from a running instance here to `volumeId`: priced on its storage path and
   * held to its type's and its volume's limits (block-io.ts).
   */
  async blockIoPass(
    instanceId: string,
    volumeId: string,
    rates: VolumeRates,
    bytes: number,
    clock: ClockState,
  ): Promise<HostCallResult<LocalIo<BlockIoTiming>>> {
    return this.call<LocalIo<BlockIoTiming>>(clock, (m, now) => {
      const vm = this.runningVm(m, instanceId);
      if (vm.status !== "ok") return { result: vm, changes: [] };
      return {
        result: { status: "ok", value: this.blockIo.pass(m.host, vm.value, volumeId, rates, bytes, now) },
        changes: [],
      };
    });
  }

  /** Dedicates this host to an account (EC2's AllocateHosts), if no other account's instance is on it. */
  async dedicate(accountId: string, clock: ClockState): Promise<HostCallResult<boolean>> {
    return this.call(clock, (m) => ({
      result: this.tenancy.dedicate(
        accountId,
        m.list().map((v) => v.instance),
      ),
      changes: [],
    }));
  }

  /** Shares the host again (EC2's ReleaseHosts), once its owner has no instance on it. */
  async undedicate(
    accountId: string,
    clock: ClockState,
  ): Promise<HostCallResult<"released" | "not-owner" | "in-use">> {
    return this.call(clock, (m) => ({
      result: this.tenancy.release(
        accountId,
        m
          .list()
          .map((v) => v.instance)
          .filter((i) => i.state !== "terminated"),
      ),
      changes: [],
    }));
  }

  /** A run of `count` I/Os of `bytes` through an attachment's gates, all asked for at once (block-io.ts). */
  async blockIoLoad(
    instanceId: string,
    volumeId: string,
    rates: VolumeRates,
    bytes: number,
    count: number,
    clock: ClockState,
  ): Promise<HostCallResult<LocalIo<{ load: BlockIoLoad; counters: BlockIoCounters }>>> {
    return this.call<LocalIo<{ load: BlockIoLoad; counters: BlockIoCounters }>>(clock, (m, now) => {
      const vm = this.runningVm(m, instanceId);
      if (vm.status !== "ok") return { result: vm, changes: [] };
      const load = this.blockIo.load(m.host, vm.value, volumeId, rates, bytes, count, now);
      return {
        result: { status: "ok", value: { load, counters: this.blockIo.counters(instanceId, volumeId) } },
        changes: [],
      };
    });
  }

  /** An attachment's I/O counters. */
  async blockIoCounters(
    instanceId: string,
    volumeId: string,
    clock: ClockState,
  ): Promise<HostCallResult<LocalIo<BlockIoCounters>>> {
    return this.call<LocalIo<BlockIoCounters>>(clock, (m) => {
      const vm = this.runningVm(m, instanceId);
      if (vm.status !== "ok") return { result: vm, changes: [] };
      return { result: { status: "ok", value: this.blockIo.counters(instanceId, volumeId) }, changes: [] };
    });
  }

  /** Writes a block of a running instance's instance store (its type's local NVMe disks). */
  async instanceStoreWrite(
    instanceId: string,
    n: number,
    data: ArrayBuffer,
    clock: ClockState,
  ): Promise<HostCallResult<LocalIo<{ checksum: string; sizeGB: number }>>> {
    return this.call<LocalIo<{ checksum: string; sizeGB: number }>>(clock, (m) => {
      const vm = this.runningVm(m, instanceId);
      if (vm.status !== "ok") return { result: vm, changes: [] };
      const checksum = this.blockIo.writeLocal(instanceId, n, data);
      return { result: { status: "ok", value: { checksum, sizeGB: vm.value.nvmeGB } }, changes: [] };
    });
  }

  async instanceStoreRead(
    instanceId: string,
    n: number,
    clock: ClockState,
  ): Promise<
    HostCallResult<LocalIo<{ data: ArrayBuffer; checksum: string; written: boolean; blocks: number }>>
  > {
    return this.call<LocalIo<{ data: ArrayBuffer; checksum: string; written: boolean; blocks: number }>>(
      clock,
      (m) => {
        const vm = this.runningVm(m, instanceId);
        if (vm.status !== "ok") return { result: vm, changes: [] };
        const block = this.blockIo.readLocal(instanceId, n);
        return {
          result: { status: "ok", value: { ...block, blocks: this.blockIo.localBlocks(instanceId) } },
          changes: [],
        };
      },
    );
  }

  private runningVm(m: HostModel, instanceId: string): LocalIo<InstanceRecord> {
    const vm = m.vm(instanceId);
    if (!vm || vm.holdExpiresWallMs !== null) return { status: "not-here" };
    if (vm.instance.state !== "running") return { status: "not-running", state: vm.instance.state };
    return { status: "ok", value: vm.instance };
  }

  // ---- live migration: each a step of fleet/migration-steps.ts, each idempotent ----

  /** `tenancy` "host": the instance comes from its account's dedicated host, and only another of those takes it. */
  async reserveIncoming(
    rec: InstanceRecord,
    migrationId: string,
    clock: ClockState,
    tenancy: Tenancy = "default",
  ) {
    return this.call(
      clock,
      (m) => {
        // Another account's dedicated host is never a destination, nor a shared one for an instance
        // coming from a dedicated host.
        const owner = this.tenancy.owner;
        const refused =
          (owner !== null && owner !== rec.accountId) || (tenancy === "host" && owner !== rec.accountId);
        if (refused && !m.vm(rec.instanceId)) {
          return { result: "unavailable" as const, changes: [] };
        }
        const r = m.reserveIncoming(rec, migrationId, Date.now() + MIGRATION_HOLD_MS);
        return { result: r.result, changes: [r.changes] };
      },
      [rec.instanceId],
    );
  }

  async arriveIncoming(rec: InstanceRecord, migrationId: string, clock: ClockState) {
    return this.call(
      clock,
      (m, now) => {
        const r = m.arriveIncoming(rec, migrationId, now);
        return { result: r.result, changes: [r.changes] };
      },
      [rec.instanceId],
    );
  }

  async releaseIncoming(instanceId: string, migrationId: string, clock: ClockState) {
    return this.call(
      clock,
      (m) => ({ result: null, changes: [m.releaseIncoming(instanceId, migrationId)] }),
      [instanceId],
    );
  }

  async markOutgoing(instanceId: string, migrationId: string, clock: ClockState) {
    return this.call(
      clock,
      (m) => {
        const r = m.markOutgoing(instanceId, migrationId);
        return { result: { status: r.result, instance: r.instance }, changes: [r.changes] };
      },
      [instanceId],
    );
  }

  async unmarkOutgoing(instanceId: string, migrationId: string, clock: ClockState) {
    return this.call(clock, (m) => ({ result: null, changes: [m.unmarkOutgoing(instanceId, migrationId)] }), [
      instanceId,
    ]);
  }

  async departOutgoing(
    instanceId: string,
    migrationId: string,
    destinationHostId: string,
    clock: ClockState,
  ) {
    return this.call(
      clock,
      (m, now) => {
        const r = m.departOutgoing(instanceId, migrationId, destinationHostId, now);
        return { result: r.result, changes: [r.changes] };
      },
      [instanceId],
    );
  }

  async loseOutgoing(instanceId: string, migrationId: string, reason: string, clock: ClockState) {
    return this.call(
      clock,
      (m, now) => {
        const r = m.loseOutgoing(instanceId, migrationId, reason, now);
        return { result: r.result, changes: [r.changes] };
      },
      [instanceId],
    );
  }

  /** The host's state and when (simulated) it last failed: a migration step decides by it. */
  async failure(clock: ClockState): Promise<HostCallResult<{ state: HostState; failedAt: number | null }>> {
    return this.call(clock, (m) => ({
      result: { state: m.host.state, failedAt: m.host.failedAt ?? null },
      changes: [],
    }));
  }

  /** The pre-copy (or post-copy) run of a guest running here; changes nothing. */
  async planMigration(
    instanceId: string,
    migrationId: string,
    params: MigrationParams,
    clock: ClockState,
  ): Promise<HostCallResult<MigrationReport | null>> {
    return this.call(clock, (m) => ({ result: planHere(m, instanceId, migrationId, params), changes: [] }), [
      instanceId,
    ]);
  }

  // ---- security (sim/security, security.ts) ----

  /** The host's measured boot (measured now if it never was) and whether it is quarantined. */
  async boot(
    clock: ClockState,
  ): Promise<HostCallResult<{ host: HostRecord; record: BootRecord; quarantined: boolean }>> {
    return this.residency.during(async () => {
      const at = await this.call(clock, (m, now) => ({ result: { host: m.host, now }, changes: [] }));
      const record = await this.security.bootRecord(at.result.host, at.result.now);
      return { ...at, result: { host: at.result.host, record, quarantined: this.security.quarantined } };
    });
  }

  /** Changes one boot stage's image, as an attacker would, and boots the host's software again. */
  async tamper(stage: BootStage, clock: ClockState): Promise<HostCallResult<BootRecord>> {
    return this.residency.during(async () => {
      const at = await this.call(clock, (m, now) => ({ result: { host: m.host, now }, changes: [] }));
      return { ...at, result: await this.security.tamper(at.result.host, stage, at.result.now) };
    });
  }

  /** The fleet's verdict on this host's boot: a quarantined host admits nothing. */
  async setQuarantined(quarantined: boolean): Promise<void> {
    this.security.setQuarantined(quarantined);
  }

  /** The public half of the key this host signs attestation documents with. */
  async attestationKey(): Promise<JsonWebKey | null> {
    return this.residency.during(async () => (this.model ? this.security.publicKey() : null));
  }

  /**
   * A signed attestation document for an instance running here: null when it does not run here.
   * The document is the exact bytes signed; the caller verifies before it parses.
   */
  async attest(
    instanceId: string,
    nonce: string,
    clock: ClockState,
  ): Promise<HostCallResult<{ document: string; signature: string } | null>> {
    return this.residency.during(() => this.attestHere(instanceId, nonce, clock));
  }

  private async attestHere(
    instanceId: string,
    nonce: string,
    clock: ClockState,
  ): Promise<HostCallResult<{ document: string; signature: string } | null>> {
    const at = await this.call(
      clock,
      (m, now) => {
        const vm = m.vm(instanceId);
        const here = vm !== undefined && vm.holdExpiresWallMs === null && m.memory.hasVm(instanceId);
        return { result: here ? { host: m.host, now } : null, changes: [] };
      },
      [instanceId],
    );
    if (!at.result) return { ...at, result: null };
    const boot = await this.security.bootRecord(at.result.host, at.result.now);
    const payload = attestationPayload({
      hostId: at.result.host.hostId,
      instanceId,
      nonce,
      timestamp: at.result.now,
      pcr: boot.pcr,
      measurements: boot.measurements,
    });
    const bytes = new TextEncoder().encode(JSON.stringify(payload));
    const signature = await this.security.sign(bytes);
    return { ...at, result: { document: base64url.encode(bytes), signature: base64url.encode(signature) } };
  }

  /** The host's isolation checks over its model (memory, CPU, encryption). */
  async isolation(clock: ClockState): Promise<
    HostCallResult<{
      checks: CheckResult[];
      accounts: Array<{ instanceId: string; accountId: string | null }>;
    }>
  > {
    return this.call(clock, (m) => {
      this.security.encryption.sync(m.memory.vmIds());
      return { result: auditHost(m, this.security.encryption), changes: [] };
    });
  }

  /** The guest writes bytes at an address: they reach its frame encrypted under its key. */
  async guestWrite(
    instanceId: string,
    access: GuestAccess,
    bytes: Uint8Array,
    clock: ClockState,
  ): Promise<HostCallResult<GuestDataPlace | null>> {
    return this.call(
      clock,
      (m, now) => ({
        result: writeGuest(m, this.security.encryption, instanceId, access, bytes, now),
        changes: [],
      }),
      [instanceId],
    );
  }

  /** The guest reads bytes at an address, decrypted with its own key. */
  async guestRead(
    instanceId: string,
    access: GuestAccess,
    length: number,
    clock: ClockState,
  ): Promise<HostCallResult<(GuestDataPlace & { bytes: Uint8Array }) | null>> {
    return this.call(
      clock,
      (m, now) => ({
        result: readGuest(m, this.security.encryption, instanceId, access, length, now),
        changes: [],
      }),
      [instanceId],
    );
  }

  /** The host's view of the frame holding `hpa`: its owner, key slot and ciphertext, never plaintext. */
  async frameView(
    hpa: number,
    clock: ClockState,
  ): Promise<
    HostCallResult<{ ownerId: string | null; keyId: number | null; ciphertext: Uint8Array | null } | null>
  > {
    return this.call(clock, (m) => {
      if (!Number.isSafeInteger(hpa) || hpa < 0 || hpa >= m.memory.hostBytes)
        return { result: null, changes: [] };
      const hfn = Math.floor(hpa / 4096);
      const ownerId = m.memory.ownerOf(hpa);
      const enc = this.security.encryption;
      const stored = enc.writtenFrames().find((f) => f.hfn === hfn);
      return {
        result: { ownerId, keyId: stored?.keyId ?? null, ciphertext: enc.hostView(hfn) },
        changes: [],
      };
    });
  }

  override async alarm(): Promise<void> {
    // The alarm that runs now is set no more.
    this.alarmAt = undefined;
    if (!this.model || !this.clock) return;
    await this.call(this.clock, () => ({ result: null, changes: [] }));
  }

  // ---- the shell ----

  /** `subjects`: the instances the caller asked about, whose events its answer carries first. */
  private async call<T>(
    clock: ClockState,
    fn: (m: HostModel, now: number) => { result: T; changes: Changes[] },
    subjects: readonly string[] = [],
  ): Promise<HostCallResult<T>> {
    const [one] = await this.callParts(clock, [{ fn, subjects }]);
    return one;
  }

  /** One call made of several callers' parts, run in order; one answer per part. */
  private async callParts<T>(clock: ClockState, parts: readonly CallPart<T>[]): Promise<HostCallResult<T>[]> {
    return this.residency.during(() => this.settleAndRun(clock, parts));
  }

  private async settleAndRun<T>(
    clock: ClockState,
    parts: readonly CallPart<T>[],
  ): Promise<HostCallResult<T>[]> {
    const m = this.model;
    if (!m) throw new Error("host is not initialized");
    const current = this.saveClock(clock);
    const now = Math.max(simNow(current, Date.now()), this.lastNow);
    this.lastNow = now;
    let outs: { result: T; changes: Changes[] }[];
    let events: FleetEvent[];
    /** The part whose own change made each event; -1 for the settle's. */
    let owner: number[];
    let sizes: number[] = [];
    try {
      // Due transitions come first: whatever the callers ask happens at `now`.
      const before = [m.expireHolds(Date.now()), m.settle(now)];
      outs = parts.map((p) => p.fn(m, now));
      const all = [...before, ...outs.flatMap((o) => o.changes)];
      events = all.flatMap((c) => c.events);
      owner = [
        ...before.flatMap((c) => c.events.map(() => -1)),
        ...outs.flatMap((o, p) => o.changes.flatMap((c) => c.events.map(() => p))),
      ];
      this.store.transaction(() => {
        this.metrics.sampleIfDue(m, now);
        // The memory model notes every VM it makes or destroys; storing it clears the notes.
        const vmsChanged = m.memoryChanged.size > 0 || m.memoryDropped.size > 0;
        this.store.save(m, all);
        this.security.save(vmsChanged ? m.memory.vmIds() : null);
        // An instance that left the host takes its instance store and I/O gates with it.
        for (const c of all) for (const r of c.removed) this.blockIo.dropInstance(r.instanceId);
        sizes = this.outbox.append(events);
      });
    } catch (err) {
      // Storage is the truth: drop whatever the model did in memory, every part's.
      this.load();
      throw err;
    }
    // Delivery is off the caller's path: the outbox is durable and the alarm retries it.
    // Once delivered, the alarm is set again without the retry, so that a host with nothing
    // due is not woken (and kept open) for a delivery that already happened.
    this.ctx.waitUntil(this.residency.during(() => this.outbox.deliver().then(() => this.scheduleAlarm())));
    this.ctx.waitUntil(this.residency.during(() => this.metrics.deliver()));
    await this.scheduleAlarm();
    const answers = answerParts(
      events,
      sizes,
      owner,
      parts.map((p) => p.subjects),
    );
    const usage = m.usage();
    return outs.map((o, p) => ({
      result: o.result,
      events: answers[p].events,
      eventsOmitted: answers[p].omitted,
      usage,
    }));
  }

  private async scheduleAlarm(): Promise<void> {
    const m = this.model;
    if (!m || !this.clock) return;
    const candidates: number[] = [];
    const next = m.nextTransitionAt();
    const wall = next === null ? undefined : wallTimeAt(this.clock, next);
    if (wall !== undefined) candidates.push(wall);
    const hold = m.nextHoldExpiryWallMs();
    if (hold !== null) candidates.push(hold);
    const sample = this.metrics.nextAt(m);
    const sampleWall = sample === null ? undefined : wallTimeAt(this.clock, sample);
    if (sampleWall !== undefined) candidates.push(sampleWall);
    if (this.outbox.hasPending()) candidates.push(this.outbox.nextAttemptAt());
    if (this.metrics.hasPending()) candidates.push(Date.now() + OUTBOX_RETRY_MS);
    // Most calls leave the alarm where it was: storage is asked only for a change.
    const at = candidates.length === 0 ? null : Math.max(Date.now(), Math.min(...candidates));
    if (at === this.alarmAt) return;
    if (at === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(at);
    this.alarmAt = at;
  }

  private view(m: HostModel): HostView {
    return {
      host: m.host,
      usage: m.usage(),
      vmCount: m.list().filter((v) => v.holdExpiresWallMs === null).length,
    };
  }

  /** Keeps the newest clock seen; returns the one to compute with. */
  private saveClock(incoming: ClockState): ClockState {
    const clock = newer(this.clock, incoming);
    if (clock === this.clock) return clock;
    this.clock = clock;
    this.store.saveClock(clock);
    return clock;
  }

  /** Storage is the truth: the model as stored, or none if the host was never created. */
  private load(): void {
    const { clock, model: p } = this.store.load();
    this.security.load();
    this.outbox.forget();
    this.metrics.forget();
    this.alarmAt = undefined;
    this.clock = clock;
    this.model = p ? new HostModel(p.host, p.vms, p.usageVersion, newId, p.cpu, p.memory) : null;
  }
}
