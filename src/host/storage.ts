// A host object's own storage: its schema, its meta keys, and the model in pieces (the
// host record, its VMs, the CPU model, the memory model), each written by its own method
// so a call can store only the pieces it changed, and of those only the parts: a VM's row
// of the CPU model (cpu-rows.ts), a VM's or a thread's piece of the memory model, and of a
// piece the segments it wrote (segments.ts).
import type { ClockState } from "../sim/clock";
import type { HostCpu, HostCpuSnapshot } from "../sim/cpu";
import type { Changes, HostModel } from "../sim/host";
import type { HostMemory, HostMemorySnapshot } from "../sim/memory";
import type { HostRecord, InstanceRecord, VmRecord } from "../sim/records";
import { type CpuHostPart, type CpuVmRow, diffChangedCpuVms, joinCpu } from "./cpu-rows";
import { migrate } from "./schema";
import {
  deletePiece,
  diffPiece,
  type PieceState,
  readPieces,
  segmentRef,
  unchangedPiece,
  writePiece,
} from "./segments";
import { deleteIn, insertRows, type Sql, type SqlWrites, sqlOver } from "./sql";

// The keys of `meta` that hold the model, and what each holds (as JSON). The schema's
// version key beside them belongs to schema.ts.
interface Meta {
  host: HostRecord;
  clock: ClockState;
  usageVersion: number;
  /** The CPU model's host part; each VM's part is a row of cpu_vms (cpu-rows.ts). */
  cpuHost: CpuHostPart;
}

type ThreadTlb = NonNullable<HostMemorySnapshot["threadTlbs"]>[number]["tlb"];

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
  private storedUsageVersion: number | null = null;
  private storedCpuHost: string | null = null;
  /** What cpu_vms holds, VM by VM. */
  private storedCpuVms = new Map<string, CpuVmRow>();
  /** The CPU model last stored: its changes since are what differs from the rows (HostCpu.takeChanges). */
  private cpuStored: HostCpu | null = null;
  /** What memory_pieces and memory_segments hold, piece by piece. */
  private storedMemory = new Map<string, PieceState>();
  /** The memory model last stored: the threads it says were touched since are the TLB pieces to check. */
  private memoryStored: HostMemory | null = null;
  /** Whether `storedMemory` names every piece the store holds (it does once loaded), so a piece it does not name is absent. */
  private memoryKnown = false;

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
    this.storedUsageVersion = read("usageVersion");
    this.storedCpuHost = meta.get("cpuHost") ?? null;
    this.storedCpuVms.clear();
    this.cpuStored = null;
    this.storedMemory.clear();
    this.memoryStored = null;
    this.memoryKnown = false;
    if (!host) {
      // Nothing to build, but what the store holds of memory (nothing, for a host never made) is known.
      this.loadMemory();
      return { clock: this.storedClock, model: null };
    }
    return {
      clock: this.storedClock,
      model: {
        host,
        vms: this.sql<{ body: string }>`SELECT body FROM vms`.map((r) => JSON.parse(r.body) as VmRecord),
        usageVersion: this.storedUsageVersion ?? 0,
        cpu: this.loadCpu(read("cpuHost")),
        memory: this.loadMemory(),
      },
    };
  }

  /**
   * Forgets what it knows the store holds (its copies of the model's small arrays among it),
   * when the model is let go: the next `load` learns it all again from the store.
   */
  forget(): void {
    this.storedHost = null;
    this.storedClock = null;
    this.storedUsageVersion = null;
    this.storedCpuHost = null;
    this.storedCpuVms.clear();
    this.cpuStored = null;
    this.storedMemory.clear();
    this.memoryStored = null;
    this.memoryKnown = false;
  }

  /** Stores a call's changes to the model: call it inside the call's transaction. */
  save(m: HostModel, changes: readonly Changes[]): void {
    this.saveHost(m.host);
    this.saveVms(changes);
    if (m.usageVersion !== this.storedUsageVersion) {
      this.setMeta("usageVersion", m.usageVersion);
      this.storedUsageVersion = m.usageVersion;
    }
    this.saveCpu(m);
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

  private setMeta<K extends keyof Meta>(key: K, value: Meta[K] | string): void {
    const json = typeof value === "string" ? value : JSON.stringify(value);
    this.sql`INSERT OR REPLACE INTO meta (key, value) VALUES (${key}, ${json})`;
  }

  /**
   * The CPU model moves only when a call runs it forward (or adds, removes or reprofiles a
   * VM); a call that does neither, such as a translation, leaves the stored rows alone, and
   * one that admits a VM within the simulated second writes the new VM's row alone. The model
   * says what changed since it was last stored (HostCpu.takeChanges), so only those VMs are
   * snapshotted and compared; a model this object has not stored before is compared whole.
   */
  private saveCpu(m: HostModel): void {
    const cpu = m.cpu;
    const taken = cpu.takeChanges();
    const known = cpu === this.cpuStored && this.storedCpuHost !== null;
    const changes = known ? taken : { host: true, all: true, vms: taken.vms };
    this.cpuStored = cpu;
    if (changes.host) {
      const host = JSON.stringify(m.cpuHostSnapshot());
      if (host !== this.storedCpuHost) {
        this.setMeta("cpuHost", host);
        this.storedCpuHost = host;
      }
    }
    const rows: SqlStorageValue[][] = [];
    const gone = diffChangedCpuVms(
      cpu.vmIds(),
      changes,
      this.storedCpuVms,
      (id) => JSON.stringify(m.cpuVmSnapshot(id)),
      (id, row) => rows.push([id, row.seq, row.json]),
    );
    insertRows(this.sql, "INSERT OR REPLACE INTO cpu_vms (vm_id, seq, json)", rows);
    deleteIn(this.sql, "DELETE FROM cpu_vms WHERE vm_id", [], gone);
  }

  private loadCpu(host: CpuHostPart | null): HostCpuSnapshot | null {
    if (!host) return null;
    const rows = this.sql<{ vm_id: string; seq: number; json: string }>`SELECT vm_id, seq, json FROM cpu_vms`;
    for (const r of rows) this.storedCpuVms.set(r.vm_id, { json: r.json, seq: r.seq });
    return joinCpu(host, rows);
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

  /**
   * Only the frame map, the threads' TLBs and the VMs that changed, and of those only the
   * segments written since the last save (segments.ts): what a call stores depends on what it
   * touched, not on how much memory the guests touched before nor on how many VMs there are.
   * Each thread's TLBs are a piece of their own (`tlb:<thread>`), so a new VM's threads add
   * pieces rather than growing the frame map's JSON.
   */
  private saveMemory(m: HostModel): void {
    if (m.memoryChanged.size === 0 && m.memoryDropped.size === 0) return;
    for (const id of m.memoryDropped) {
      if (!this.memoryKnown || this.storedMemory.has(`vm:${id}`)) deletePiece(this.sql, `vm:${id}`);
      this.storedMemory.delete(`vm:${id}`);
    }
    const pieces: [string, unknown][] = [["frames", m.memory.imageFrameMap()]];
    // The threads whose TLBs the model says may have changed; all of them for a model this object
    // has not stored before.
    const touched = m.memory.takeTouchedThreads();
    const threads = m.memory === this.memoryStored ? touched : m.memory.threads();
    this.memoryStored = m.memory;
    for (const t of threads) {
      const piece = `tlb:${t}`;
      const stored = this.storedMemory.get(piece);
      const same = stored ? unchangedTlb(m, t, stored) : false;
      if (same) continue;
      const image = m.memory.imageThreadTlb(t);
      if (same === null && stored && unchangedPiece(image, stored)) continue;
      pieces.push([piece, image]);
    }
    for (const id of m.memoryChanged) pieces.push([`vm:${id}`, m.memory.imageVm(id)]);
    for (const [piece, image] of pieces) {
      const stored = this.storedMemory.get(piece);
      if (stored && unchangedPiece(image, stored)) continue;
      const { write, state } = diffPiece(image, stored);
      writePiece(this.sql, piece, write, this.memoryKnown);
      this.storedMemory.set(piece, state);
    }
    m.memoryChanged.clear();
    m.memoryDropped.clear();
  }

  /** The frame map's piece, each thread's and each VM's; a store written before threads had pieces holds them in the frame map's. */
  private loadMemory(): HostMemorySnapshot | null {
    const pieces = readPieces(this.sql);
    this.memoryKnown = true;
    const frames = pieces.get("frames");
    for (const [piece, { state }] of pieces) this.storedMemory.set(piece, state);
    if (!frames) return null;
    const vms: HostMemorySnapshot["vms"] = [];
    const head = frames.value as Omit<HostMemorySnapshot, "vms">;
    const threadTlbs = [...(head.threadTlbs ?? [])];
    for (const [piece, { value }] of pieces) {
      if (piece.startsWith("vm:")) vms.push(value as HostMemorySnapshot["vms"][number]);
      else if (piece.startsWith("tlb:"))
        threadTlbs.push({ thread: Number(piece.slice(4)), tlb: value as ThreadTlb });
    }
    threadTlbs.sort((a, b) => a.thread - b.thread);
    return { ...head, threadTlbs, vms };
  }
}

/** The JSON of a thread's TLB piece, its arrays named as segments.ts names them, by the entries' length and fill. */
const tlbJsons = new Map<number, string>();
function tlbJson(entriesBytes: number, fill: number): string {
  const key = entriesBytes * 2 + (fill === 0 ? 0 : 1);
  let json = tlbJsons.get(key);
  if (json === undefined) {
    json = JSON.stringify({
      entries: segmentRef("Float64Array", "entries", entriesBytes, fill),
      fifo: segmentRef("Uint8Array", "fifo", null),
      state: segmentRef("Int32Array", "state", null),
    });
    if (tlbJsons.size < 64) tlbJsons.set(key, json);
  }
  return json;
}

/**
 * `unchangedPiece` for a thread's TLB piece (a TlbSnapshot image: its entries in segments, its
 * FIFO positions and state in the packed row), asked of the TLB rather than of an image of it,
 * which costs more to make and walk than the check: a model read from the store has every
 * thread's checked once. Null for a piece stored in another layout, which an image must be
 * compared with.
 */
function unchangedTlb(m: HostModel, thread: number, stored: PieceState): boolean | null {
  const { fields } = stored;
  const entries = fields.get("entries");
  const fifo = fields.get("fifo");
  const state = fields.get("state");
  if (
    fields.size !== 3 ||
    !entries ||
    entries.packed ||
    stored.json !== tlbJson(entries.byteLength, entries.fill) ||
    !fifo?.copy ||
    !fifo.packed ||
    !state?.copy ||
    !state.packed
  )
    return null;
  return m.memory.threadTlbUnchangedFrom(thread, entries.byteLength, fifo.copy, state.copy);
}
