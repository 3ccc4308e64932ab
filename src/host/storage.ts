// A host object's own storage: its schema, its meta keys, and the model in pieces (the
// host record, its VMs, the CPU model, the memory model), each written by its own method
// so a call can store only the pieces it changed.
import type { ClockState } from "../sim/clock";
import type { HostCpuSnapshot } from "../sim/cpu";
import type { Changes, HostModel } from "../sim/host";
import type { HostMemorySnapshot } from "../sim/memory";
import type { HostRecord, InstanceRecord, VmRecord } from "../sim/records";
import { pack, unpack } from "./pack";
import { migrate } from "./schema";
import { type Sql, type SqlWrites, sqlOver } from "./sql";

// The keys of `meta` that hold the model, and what each holds (as JSON). The schema's
// version key beside them belongs to schema.ts.
interface Meta {
  host: HostRecord;
  clock: ClockState;
  usageVersion: number;
  cpu: HostCpuSnapshot;
}

/** Everything a HostModel is built from. */
export interface StoredModel {
  host: HostRecord;
  vms: VmRecord[];
  usageVersion: number;
  cpu: HostCpuSnapshot | null;
  memory: HostMemorySnapshot | null;
}

export class HostStorage {
  readonly sql: Sql;
  /** Rows and bytes written through `sql` since this object was made: what a call costs the store. */
  readonly written: SqlWrites = { rows: 0, bytes: 0 };
  /** What `meta` holds now, so the writes that would change nothing are skipped. */
  private storedHost: HostRecord | null = null;
  private storedClock: ClockState | null = null;

  constructor(private readonly storage: DurableObjectStorage) {
    this.sql = sqlOver(storage.sql, this.written);
  }

  /** Creates or upgrades the schema; answers the version it found. */
  migrate(): number {
    return this.storage.transactionSync(() => migrate(this.sql));
  }

  transaction<T>(fn: () => T): T {
    return this.storage.transactionSync(fn);
  }

  /** The clock and the model's pieces as stored; no model if the host was never created. */
  load(): { clock: ClockState | null; model: StoredModel | null } {
    const meta = new Map(
      this.sql<{ key: string; value: string }>`SELECT key, value FROM meta`.map((r) => [r.key, r.value]),
    );
    const read = <K extends keyof Meta>(key: K): Meta[K] | null => {
      const v = meta.get(key);
      return v === undefined ? null : (JSON.parse(v) as Meta[K]);
    };
    const host = read("host");
    this.storedHost = host;
    this.storedClock = read("clock");
    if (!host) return { clock: this.storedClock, model: null };
    return {
      clock: this.storedClock,
      model: {
        host,
        vms: this.sql<{ body: string }>`SELECT body FROM vms`.map((r) => JSON.parse(r.body) as VmRecord),
        usageVersion: read("usageVersion") ?? 0,
        cpu: read("cpu"),
        memory: this.loadMemory(),
      },
    };
  }

  /** Stores a call's changes to the model: call it inside the call's transaction. */
  save(m: HostModel, changes: readonly Changes[]): void {
    this.saveHost(m.host);
    this.saveVms(changes);
    this.setMeta("usageVersion", m.usageVersion);
    this.setMeta("cpu", m.cpuSnapshot());
    this.saveMemory(m);
  }

  /** Stores the clock unless it is the one already stored: it changes only when an admin moves it. */
  saveClock(clock: ClockState): void {
    const c = this.storedClock;
    if (
      c &&
      c.generation === clock.generation &&
      c.anchorSimMs === clock.anchorSimMs &&
      c.anchorWallMs === clock.anchorWallMs
    ) {
      return;
    }
    this.setMeta("clock", clock);
    this.storedClock = clock;
  }

  /** The last record of an instance that left this host, if it did. */
  departed(instanceId: string): InstanceRecord | null {
    const row = this.sql<{ body: string }>`SELECT body FROM departed WHERE instance_id = ${instanceId}`[0];
    return row ? (JSON.parse(row.body) as InstanceRecord) : null;
  }

  allDeparted(): InstanceRecord[] {
    return this.sql<{ body: string }>`SELECT body FROM departed`.map(
      (r) => JSON.parse(r.body) as InstanceRecord,
    );
  }

  private setMeta<K extends keyof Meta>(key: K, value: Meta[K]): void {
    this.sql`INSERT OR REPLACE INTO meta (key, value) VALUES (${key}, ${JSON.stringify(value)})`;
  }

  /** The model replaces its host record on every change, so an unchanged one is the same object. */
  private saveHost(host: HostRecord): void {
    if (host === this.storedHost) return;
    this.setMeta("host", host);
    this.storedHost = host;
  }

  private saveVms(changes: readonly Changes[]): void {
    const sql = this.sql;
    for (const c of changes) {
      for (const vm of c.upserted) {
        sql`INSERT OR REPLACE INTO vms (instance_id, body) VALUES (${vm.instance.instanceId}, ${JSON.stringify(vm)})`;
      }
      for (const gone of c.removed) {
        sql`DELETE FROM vms WHERE instance_id = ${gone.instanceId}`;
        // Holds that never committed were never visible (they still name this host); only
        // real departures, which left with no host, are remembered.
        if (gone.hostId === null) {
          sql`INSERT OR REPLACE INTO departed (instance_id, body, at) VALUES (${gone.instanceId}, ${JSON.stringify(gone)}, ${gone.stateTransitionTime})`;
        }
      }
    }
  }

  /** Only the frame map and the VMs that changed: a busy host's whole model is megabytes. */
  private saveMemory(m: HostModel): void {
    if (m.memoryChanged.size === 0 && m.memoryDropped.size === 0) return;
    const sql = this.sql;
    const pieces: [string, unknown][] = [["frames", m.memory.snapshotFrames()]];
    for (const id of m.memoryChanged) pieces.push([`vm:${id}`, m.memory.snapshotVm(id)]);
    for (const id of m.memoryDropped) {
      sql`DELETE FROM memory_pieces WHERE piece = ${`vm:${id}`}`;
      sql`DELETE FROM memory_blobs WHERE piece = ${`vm:${id}`}`;
    }
    for (const [piece, value] of pieces) {
      const packed = pack(value);
      sql`DELETE FROM memory_blobs WHERE piece = ${piece}`;
      for (const [i, b] of packed.blobs.entries()) {
        sql`INSERT INTO memory_blobs (piece, idx, data) VALUES (${piece}, ${i}, ${b})`;
      }
      sql`INSERT OR REPLACE INTO memory_pieces (piece, json) VALUES (${piece}, ${packed.json})`;
    }
    m.memoryChanged.clear();
    m.memoryDropped.clear();
  }

  private loadMemory(): HostMemorySnapshot | null {
    const sql = this.sql;
    const read = (piece: string, json: string) =>
      unpack<unknown>({
        json,
        blobs: sql<{
          data: ArrayBuffer;
        }>`SELECT data FROM memory_blobs WHERE piece = ${piece} ORDER BY idx`.map((r) => r.data),
      });
    const pieces = sql<{ piece: string; json: string }>`SELECT piece, json FROM memory_pieces`;
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
