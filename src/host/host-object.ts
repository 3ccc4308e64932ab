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
import type { FleetEvent, HostRecord, HostState, HostUsage, InstanceRecord } from "../sim/records";
import { OUTBOX_RETRY_MS, Outbox } from "./outbox";
import { HostStorage } from "./storage";

/** What every call answers besides its own result: the events it caused and the host's use. */
export interface HostCallResult<T> {
  result: T;
  events: FleetEvent[];
  usage: HostUsage;
}

export interface HostView {
  host: HostRecord;
  usage: HostUsage;
  vms: InstanceRecord[];
}

export interface ReconcileView extends HostView {
  departed: InstanceRecord[];
  heldIds: string[];
  outboxPending: number;
}

/** How long an admission hold lives if the launch that made it never commits or cancels. */
const HOLD_MS = 60_000;
const newId = () => crypto.randomUUID();

export class HostObject extends DurableObject<Env> {
  private readonly store: HostStorage;
  private readonly outbox: Outbox;
  private model: HostModel | null = null;
  private clock: ClockState | null = null;
  /** Simulated time never runs backwards here, even for a request carrying an older clock. */
  private lastNow = Number.NEGATIVE_INFINITY;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new HostStorage(ctx.storage);
    this.outbox = new Outbox(this.store.sql, env.EVENTS);
    ctx.blockConcurrencyWhile(async () => {
      this.store.migrate();
      this.load();
    });
  }

  async init(host: HostRecord, clock: ClockState): Promise<HostCallResult<HostRecord>> {
    if (this.model) return this.call(clock, (m) => ({ result: m.host, changes: [] }));
    // The host record is stored with the host.created event, in the call's transaction.
    this.model = new HostModel(host, [], 0, newId);
    return this.call(clock, (m, now) => ({ result: m.host, changes: [m.created(now)] }));
  }

  /** The host, its VMs, and what its hypervisor spent over the last `cpuWindowMs`. */
  async describe(
    clock: ClockState,
    cpuWindowMs = 60_000,
  ): Promise<HostCallResult<HostView & { cpu: HostCpuSummary }>> {
    return this.call(clock, (m, now) => ({
      result: { ...this.view(m), cpu: m.cpuSummary(now, cpuWindowMs) },
      changes: [],
    }));
  }

  async admit(
    instances: InstanceRecord[],
    commitIfAtLeast: number,
    clock: ClockState,
  ): Promise<HostCallResult<string[]>> {
    return this.call(clock, (m, now) => {
      const { admitted, changes } = m.admit(instances, now, {
        commitIfAtLeast,
        holdExpiresWallMs: Date.now() + HOLD_MS,
      });
      return { result: admitted, changes: [changes] };
    });
  }

  async commit(ids: string[], clock: ClockState): Promise<HostCallResult<null>> {
    return this.call(clock, (m, now) => ({ result: null, changes: [m.commit(ids, now)] }));
  }

  async cancel(ids: string[], clock: ClockState): Promise<HostCallResult<null>> {
    return this.call(clock, (m) => ({ result: null, changes: [m.cancel(ids)] }));
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

  /** A change to one instance; when it is not here, its last record here (if any) answers. */
  private instanceCall(
    instanceId: string,
    clock: ClockState,
    fn: (m: HostModel, now: number) => { result: ActResult; changes: Changes },
  ): Promise<HostCallResult<ActResult>> {
    return this.call<ActResult>(clock, (m, now) => {
      const { result, changes } = fn(m, now);
      if (result.status === "not-here") {
        return { result: { status: result.status, departed: this.store.departed(instanceId) }, changes: [] };
      }
      return { result, changes: [changes] };
    });
  }

  /** The CPU model's counters for one VM over the last `windowMs` of simulated time. */
  async cpu(
    instanceId: string,
    windowMs: number,
    clock: ClockState,
  ): Promise<HostCallResult<VmCpuCounters | null>> {
    return this.call(clock, (m, now) => ({ result: m.cpuCounters(instanceId, now, windowMs), changes: [] }));
  }

  /** One guest memory access, walked step by step, with whatever faults it takes handled. */
  async memoryAccess(
    instanceId: string,
    req: { asid: number; gva: number | bigint; vcpu: number; write: boolean },
    clock: ClockState,
  ): Promise<
    HostCallResult<{ first: Translation; handled: AccessFaults | null; final: Translation | null } | null>
  > {
    return this.call(clock, (m, now) => ({ result: m.access(instanceId, req, now), changes: [] }));
  }

  async memorySummary(
    instanceId: string,
    clock: ClockState,
  ): Promise<HostCallResult<VmMemorySummary | null>> {
    return this.call(clock, (m, now) => ({ result: m.memorySummary(instanceId, now), changes: [] }));
  }

  async hostMemory(clock: ClockState): Promise<HostCallResult<HostMemorySummary>> {
    return this.call(clock, (m, now) => ({ result: m.hostMemorySummary(now), changes: [] }));
  }

  async settle(clock: ClockState): Promise<HostCallResult<null>> {
    return this.call(clock, () => ({ result: null, changes: [] }));
  }

  async setState(state: HostState, clock: ClockState): Promise<HostCallResult<HostRecord>> {
    return this.call(clock, (m, now) => {
      const changes = m.setState(state, now);
      return { result: m.host, changes: [changes] };
    });
  }

  /** Everything the reconcile path compares with D1, read without changing anything. */
  async reconcileView(): Promise<ReconcileView | null> {
    const m = this.model;
    if (!m) return null;
    return {
      ...this.view(m),
      departed: this.store.allDeparted(),
      heldIds: m
        .list()
        .filter((v) => v.holdExpiresWallMs !== null)
        .map((v) => v.instance.instanceId),
      outboxPending: this.outbox.pending(),
    };
  }

  override async alarm(): Promise<void> {
    if (!this.model || !this.clock) return;
    await this.call(this.clock, () => ({ result: null, changes: [] }));
  }

  // ---- the shell ----

  private async call<T>(
    clock: ClockState,
    fn: (m: HostModel, now: number) => { result: T; changes: Changes[] },
  ): Promise<HostCallResult<T>> {
    const m = this.model;
    if (!m) throw new Error("host is not initialized");
    const current = this.saveClock(clock);
    const now = Math.max(simNow(current, Date.now()), this.lastNow);
    this.lastNow = now;
    let out: { result: T; changes: Changes[] };
    let events: FleetEvent[];
    try {
      // Due transitions come first: whatever the caller asks happens at `now`.
      const before = [m.expireHolds(Date.now()), m.settle(now)];
      out = fn(m, now);
      const all = [...before, ...out.changes];
      events = all.flatMap((c) => c.events);
      this.store.transaction(() => {
        this.store.save(m, all);
        this.outbox.append(events);
      });
    } catch (err) {
      // Storage is the truth: drop whatever the model did in memory.
      this.load();
      throw err;
    }
    // Delivery is off the caller's path: the outbox is durable and the alarm retries it.
    this.ctx.waitUntil(this.outbox.deliver());
    await this.scheduleAlarm();
    return { result: out.result, events, usage: m.usage() };
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
    if (this.outbox.pending() > 0) candidates.push(Date.now() + OUTBOX_RETRY_MS);
    if (candidates.length === 0) {
      await this.ctx.storage.deleteAlarm();
      return;
    }
    await this.ctx.storage.setAlarm(Math.max(Date.now(), Math.min(...candidates)));
  }

  private view(m: HostModel): HostView {
    return {
      host: m.host,
      usage: m.usage(),
      vms: m
        .list()
        .filter((v) => v.holdExpiresWallMs === null)
        .map((v) => v.instance),
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
    this.clock = clock;
    this.model = p ? new HostModel(p.host, p.vms, p.usageVersion, newId, p.cpu, p.memory) : null;
  }
}
