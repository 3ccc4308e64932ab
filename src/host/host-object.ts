// The Host Durable Object: the single writer of one physical host. A thin shell around
// sim/host.ts: it loads and persists the model in SQLite, settles transitions on alarms,
// and keeps an outbox of events that it delivers to the events queue at least once.
import { DurableObject } from "cloudflare:workers";
import { type ClockState, newer, simNow, wallTimeAt } from "../sim/clock";
import type { HostCpuSnapshot, HostCpuSummary, VmCpuCounters, WorkloadSpec } from "../sim/cpu";
import { type AccessFaults, type ActResult, type Changes, HostModel } from "../sim/host";
import type { InstanceAction } from "../sim/lifecycle";
import type { HostMemorySnapshot, HostMemorySummary, Translation, VmMemorySummary } from "../sim/memory";
import type { FleetEvent, HostRecord, HostState, HostUsage, InstanceRecord, VmRecord } from "../sim/records";
import { pack, unpack } from "./pack";

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
const OUTBOX_RETRY_MS = 5_000;
const OUTBOX_BATCH = 100;
// Queues take batches of up to 256 KB; one event (tags included) stays well under 64 KB.
const OUTBOX_BATCH_BYTES = 192 * 1024;
const utf8 = new TextEncoder();

export class HostObject extends DurableObject<Env> {
  private model: HostModel | null = null;
  private clock: ClockState | null = null;
  private flushing = false;
  /** Simulated time never runs backwards here, even for a request carrying an older clock. */
  private lastNow = Number.NEGATIVE_INFINITY;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      this.migrate();
      this.load();
    });
  }

  async init(host: HostRecord, clock: ClockState): Promise<HostCallResult<HostRecord>> {
    if (this.model) return this.call(clock, (m) => ({ result: m.host, changes: [] }));
    this.model = new HostModel(host, [], 0, () => crypto.randomUUID());
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO meta (key, value) VALUES ('host', ?)",
      JSON.stringify(host),
    );
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
        return { result: { status: result.status, departed: this.departed(instanceId) }, changes: [] };
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
    return this.call(clock, (m) => ({ result: m.access(instanceId, req), changes: [] }));
  }

  async memorySummary(
    instanceId: string,
    clock: ClockState,
  ): Promise<HostCallResult<VmMemorySummary | null>> {
    return this.call(clock, (m) => ({ result: m.memorySummary(instanceId), changes: [] }));
  }

  async hostMemory(clock: ClockState): Promise<HostCallResult<HostMemorySummary>> {
    return this.call(clock, (m) => ({ result: m.hostMemorySummary(), changes: [] }));
  }

  async settle(clock: ClockState): Promise<HostCallResult<null>> {
    return this.call(clock, () => ({ result: null, changes: [] }));
  }

  async setState(state: HostState, clock: ClockState): Promise<HostCallResult<HostRecord>> {
    return this.call(clock, (m, now) => {
      const changes = m.setState(state, now);
      this.ctx.storage.sql.exec(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('host', ?)",
        JSON.stringify(m.host),
      );
      return { result: m.host, changes: [changes] };
    });
  }

  /** Everything the reconcile path compares with D1, read without changing anything. */
  async reconcileView(): Promise<ReconcileView | null> {
    const m = this.model;
    if (!m) return null;
    const departed = this.ctx.storage.sql
      .exec<{ body: string }>("SELECT body FROM departed")
      .toArray()
      .map((r) => JSON.parse(r.body) as InstanceRecord);
    const outbox = this.ctx.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n;
    return {
      ...this.view(m),
      departed,
      heldIds: m
        .list()
        .filter((v) => v.holdExpiresWallMs !== null)
        .map((v) => v.instance.instanceId),
      outboxPending: outbox,
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
    let all: Changes[];
    try {
      // Due transitions come first: whatever the caller asks happens at `now`.
      const before = [m.expireHolds(Date.now()), m.settle(now)];
      out = fn(m, now);
      all = [...before, ...out.changes];
      this.ctx.storage.transactionSync(() => this.persist(m, all));
    } catch (err) {
      // Storage is the truth: drop whatever the model did in memory.
      this.load();
      throw err;
    }
    const events = all.flatMap((c) => c.events);
    // Delivery is off the caller's path: the outbox is durable and the alarm retries it.
    this.ctx.waitUntil(this.flush());
    await this.scheduleAlarm();
    return { result: out.result, events, usage: m.usage() };
  }

  private persist(m: HostModel, changes: Changes[]): void {
    const sql = this.ctx.storage.sql;
    for (const c of changes) {
      for (const vm of c.upserted) {
        sql.exec(
          "INSERT OR REPLACE INTO vms (instance_id, body) VALUES (?, ?)",
          vm.instance.instanceId,
          JSON.stringify(vm),
        );
      }
      for (const gone of c.removed) {
        sql.exec("DELETE FROM vms WHERE instance_id = ?", gone.instanceId);
        // Holds that never committed were never visible (they still name this host); only
        // real departures, which left with no host, are remembered.
        if (gone.hostId === null) {
          sql.exec(
            "INSERT OR REPLACE INTO departed (instance_id, body, at) VALUES (?, ?, ?)",
            gone.instanceId,
            JSON.stringify(gone),
            gone.stateTransitionTime,
          );
        }
      }
      for (const e of c.events)
        sql.exec("INSERT INTO outbox (id, body) VALUES (?, ?)", e.id, JSON.stringify(e));
    }
    sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('usageVersion', ?)", String(m.usageVersion));
    sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('cpu', ?)", JSON.stringify(m.cpuSnapshot()));
    if (m.memoryChanged.size > 0 || m.memoryDropped.size > 0) {
      // Only the frame map and the VMs that changed: a busy host's whole model is megabytes.
      const pieces: [string, unknown][] = [["frames", m.memory.snapshotFrames()]];
      for (const id of m.memoryChanged) pieces.push([`vm:${id}`, m.memory.snapshotVm(id)]);
      for (const id of m.memoryDropped) {
        sql.exec("DELETE FROM memory_pieces WHERE piece = ?", `vm:${id}`);
        sql.exec("DELETE FROM memory_blobs WHERE piece = ?", `vm:${id}`);
      }
      for (const [piece, value] of pieces) {
        const packed = pack(value);
        sql.exec("DELETE FROM memory_blobs WHERE piece = ?", piece);
        for (const [i, b] of packed.blobs.entries()) {
          sql.exec("INSERT INTO memory_blobs (piece, idx, data) VALUES (?, ?, ?)", piece, i, b);
        }
        sql.exec("INSERT OR REPLACE INTO memory_pieces (piece, json) VALUES (?, ?)", piece, packed.json);
      }
      m.memoryChanged.clear();
      m.memoryDropped.clear();
    }
  }

  /** Delivers the outbox to the events queue; what fails stays for the alarm to retry. */
  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (;;) {
        const rows = this.ctx.storage.sql
          .exec<{ seq: number; body: string }>(
            "SELECT seq, body FROM outbox ORDER BY seq LIMIT ?",
            OUTBOX_BATCH,
          )
          .toArray();
        if (rows.length === 0) return;
        // A batch is capped in bytes as well as in messages.
        const batch: typeof rows = [];
        let bytes = 0;
        for (const r of rows) {
          const size = utf8.encode(r.body).length;
          if (batch.length > 0 && bytes + size > OUTBOX_BATCH_BYTES) break;
          batch.push(r);
          bytes += size;
        }
        await this.env.EVENTS.sendBatch(
          batch.map((r) => ({ body: JSON.parse(r.body), contentType: "json" })),
        );
        this.ctx.storage.sql.exec("DELETE FROM outbox WHERE seq <= ?", batch[batch.length - 1].seq);
      }
    } catch (err) {
      console.warn("host outbox delivery failed; the alarm will retry", err);
    } finally {
      this.flushing = false;
    }
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
    const pending = this.ctx.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n;
    if (pending > 0) candidates.push(Date.now() + OUTBOX_RETRY_MS);
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

  private departed(instanceId: string): InstanceRecord | null {
    const row = this.ctx.storage.sql
      .exec<{ body: string }>("SELECT body FROM departed WHERE instance_id = ?", instanceId)
      .toArray()[0];
    return row ? (JSON.parse(row.body) as InstanceRecord) : null;
  }

  /** Keeps the newest clock seen; returns the one to compute with. */
  private saveClock(incoming: ClockState): ClockState {
    const clock = newer(this.clock, incoming);
    if (clock === this.clock) return clock;
    const c = this.clock;
    this.clock = clock;
    // The clock changes only when an admin moves or reconfigures it: skip the write otherwise.
    if (
      c &&
      c.generation === clock.generation &&
      c.anchorSimMs === clock.anchorSimMs &&
      c.anchorWallMs === clock.anchorWallMs
    ) {
      return clock;
    }
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO meta (key, value) VALUES ('clock', ?)",
      JSON.stringify(clock),
    );
    return clock;
  }

  private migrate(): void {
    const sql = this.ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    sql.exec("CREATE TABLE IF NOT EXISTS vms (instance_id TEXT PRIMARY KEY, body TEXT NOT NULL)");
    sql.exec("CREATE TABLE IF NOT EXISTS memory_pieces (piece TEXT PRIMARY KEY, json TEXT NOT NULL)");
    sql.exec(
      "CREATE TABLE IF NOT EXISTS memory_blobs (piece TEXT NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (piece, idx))",
    );
    sql.exec(
      "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, body TEXT NOT NULL)",
    );
    sql.exec(
      "CREATE TABLE IF NOT EXISTS departed (instance_id TEXT PRIMARY KEY, body TEXT NOT NULL, at INTEGER NOT NULL)",
    );
  }

  private load(): void {
    const sql = this.ctx.storage.sql;
    const meta = new Map(
      sql
        .exec<{ key: string; value: string }>("SELECT key, value FROM meta")
        .toArray()
        .map((r) => [r.key, r.value]),
    );
    const host = meta.get("host");
    this.clock = meta.has("clock") ? (JSON.parse(meta.get("clock")!) as ClockState) : null;
    if (!host) {
      this.model = null;
      return;
    }
    const vms = sql
      .exec<{ body: string }>("SELECT body FROM vms")
      .toArray()
      .map((r) => JSON.parse(r.body) as VmRecord);
    this.model = new HostModel(
      JSON.parse(host) as HostRecord,
      vms,
      Number(meta.get("usageVersion") ?? 0),
      () => crypto.randomUUID(),
      meta.has("cpu") ? (JSON.parse(meta.get("cpu")!) as HostCpuSnapshot) : null,
      this.loadMemory(),
    );
  }

  private loadMemory(): HostMemorySnapshot | null {
    const sql = this.ctx.storage.sql;
    const read = (piece: string, json: string) =>
      unpack<unknown>({
        json,
        blobs: sql
          .exec<{ data: ArrayBuffer }>("SELECT data FROM memory_blobs WHERE piece = ? ORDER BY idx", piece)
          .toArray()
          .map((r) => r.data),
      });
    const pieces = sql
      .exec<{ piece: string; json: string }>("SELECT piece, json FROM memory_pieces")
      .toArray();
    const frames = pieces.find((p) => p.piece === "frames");
    if (!frames) return null;
    return {
      ...(read("frames", frames.json) as Omit<HostMemorySnapshot, "vms">),
      vms: pieces
        .filter((p) => p.piece.startsWith("vm:"))
        .map((p) => read(p.piece, p.json) as HostMemorySnapshot["vms"][number]),
    };
  }
}
