// The host object's tables and their versions. The version is a key in `meta`, the one
// table every version has, so an upgrade knows what it finds before it changes anything.
import type { HostCpuSnapshot } from "../sim/cpu";
import { writeCpuRows } from "./cpu-rows";
import { isPacked, unpack } from "./pack";
import { diffPiece, writePiece } from "./segments";
import type { Sql } from "./sql";

/**
 * Each step takes the store from the version of its index to the next. Step 1 is the
 * schema as it stood before stores carried a version: every statement is IF NOT EXISTS,
 * so it leaves such a store's tables in place and only records that they are version 1.
 */
const STEPS: readonly ((sql: Sql) => void)[] = [
  (sql) => {
    // storage.ts: the host record, the clock, the CPU model and the usage version.
    sql`CREATE TABLE IF NOT EXISTS vms (instance_id TEXT PRIMARY KEY, body TEXT NOT NULL)`;
    sql`CREATE TABLE IF NOT EXISTS departed (instance_id TEXT PRIMARY KEY, body TEXT NOT NULL, at INTEGER NOT NULL)`;
    // The memory model in pieces (pack.ts): each piece's JSON, and its typed arrays as blobs.
    // Version 2 moves the blobs to memory_segments.
    sql`CREATE TABLE IF NOT EXISTS memory_pieces (piece TEXT PRIMARY KEY, json TEXT NOT NULL)`;
    sql`CREATE TABLE IF NOT EXISTS memory_blobs (piece TEXT NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (piece, idx))`;
    // outbox.ts.
    sql`CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, body TEXT NOT NULL)`;
  },
  (sql) => {
    // The memory model in segments (segments.ts), so a call rewrites only the parts it changed.
    // Pieces stored whole by version 1 (pack.ts) are read with its codec and written again in
    // segments. Like step 1 it leaves what is already in the new form alone.
    sql`CREATE TABLE IF NOT EXISTS memory_segments (piece TEXT NOT NULL, field TEXT NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (piece, field, idx))`;
    for (const { piece, json } of sql<{
      piece: string;
      json: string;
    }>`SELECT piece, json FROM memory_pieces`) {
      if (!isPacked(json)) continue;
      const blobs = sql<{
        data: ArrayBuffer;
      }>`SELECT data FROM memory_blobs WHERE piece = ${piece} ORDER BY idx`;
      const value = unpack({ json, blobs: blobs.map((r) => r.data) });
      writePiece(sql, piece, diffPiece(value, undefined).write);
    }
    sql`DROP TABLE IF EXISTS memory_blobs`;
  },
  (sql) => {
    // flows.ts: the virtual switch's tracked flows, per network interface on this host.
    sql`CREATE TABLE IF NOT EXISTS vswitch_flows (eni_id TEXT NOT NULL, key TEXT NOT NULL, expires_at REAL NOT NULL, outbound INTEGER NOT NULL, inbound INTEGER NOT NULL, PRIMARY KEY (eni_id, key))`;
  },
  (sql) => {
    // metrics-sampler.ts: when the next sample is due, the memory totals of the last, and the
    // samples not yet on the metrics queue.
    sql`CREATE TABLE IF NOT EXISTS metrics_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)`;
    sql`CREATE TABLE IF NOT EXISTS metrics_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)`;
  },
  (sql) => {
    // block-io.ts: the rate gates of block I/O (instance, volume, back end), each's next free time in
    // simulated ms; and the instance store, the blocks of local disks of the VMs that run here.
    sql`CREATE TABLE IF NOT EXISTS io_gates (key TEXT PRIMARY KEY, tat REAL NOT NULL)`;
    sql`CREATE TABLE IF NOT EXISTS instance_store (instance_id TEXT NOT NULL, n INTEGER NOT NULL, checksum TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (instance_id, n))`;
  },
  (sql) => {
    // security.ts: each VM's memory key, the frames guests wrote (ciphertext only), and the
    // boot record, the boot images changed on purpose, the verdict and the attestation key.
    sql`CREATE TABLE IF NOT EXISTS security_keys (vm_id TEXT PRIMARY KEY, key_id INTEGER NOT NULL, key BLOB NOT NULL)`;
    sql`CREATE TABLE IF NOT EXISTS security_frames (hfn INTEGER PRIMARY KEY, key_id INTEGER NOT NULL, data BLOB NOT NULL)`;
    sql`CREATE TABLE IF NOT EXISTS security_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`;
  },
  (sql) => {
    // block-io.ts: each volume attachment's I/O counters (I/Os, operations, bytes, I/Os each gate held).
    sql`CREATE TABLE IF NOT EXISTS io_counters (scope TEXT NOT NULL, name TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY (scope, name))`;
    // tenancy.ts: the account a dedicated host belongs to (no row while it is shared).
    sql`CREATE TABLE IF NOT EXISTS host_tenancy (id INTEGER PRIMARY KEY CHECK (id = 1), account_id TEXT NOT NULL)`;
  },
  (sql) => {
    // cpu-rows.ts: the CPU model's snapshot split into its host part (meta key cpuHost) and a row
    // per VM, so a call rewrites the VMs it changed rather than all of them. A store that held
    // the snapshot whole (meta key cpu) is split here. The memory model's pieces change layout
    // without a step (segments.ts reads both; the next write moves a piece to the new one), but
    // this version keeps older code from reading pieces it would misread.
    sql`CREATE TABLE IF NOT EXISTS cpu_vms (vm_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, json TEXT NOT NULL)`;
    const whole = sql<{ value: string }>`SELECT value FROM meta WHERE key = 'cpu'`[0];
    if (whole) {
      writeCpuRows(sql, JSON.parse(whole.value) as HostCpuSnapshot);
      sql`DELETE FROM meta WHERE key = 'cpu'`;
    }
  },
  (_sql) => {
    // segments.ts: a segment before an array's last may be shorter than SEGMENT_BYTES (written
    // without its trailing zeros; an emptied one is a row of no bytes). No row changes, but
    // code before this version refuses a short segment, and this version refuses that code.
  },
  (_sql) => {
    // segments.ts: an array's JSON gives its length, and the byte its missing bytes hold (zero,
    // or 0xff for an array of -1s), so an array's last segment is stored trimmed too, and a
    // segment of -1s alone is left out. Pieces written before read as they did (no length: the
    // last segment is whole); code before this version would misread the new ones.
  },
];

export const SCHEMA_VERSION = STEPS.length;
const VERSION_KEY = "schemaVersion";

/** The schema version a store holds: 0 for a new store, or one from before versions. */
export function schemaVersion(sql: Sql): number {
  const row = sql<{ value: string }>`SELECT value FROM meta WHERE key = ${VERSION_KEY}`[0];
  return row ? Number(JSON.parse(row.value)) : 0;
}

/**
 * Brings the store to SCHEMA_VERSION and answers the version it found. A store newer than
 * this code is refused rather than read: older code cannot know what a newer step changed.
 * Run it inside a transaction, so a step that fails leaves the store as it was.
 */
export function migrate(sql: Sql): number {
  sql`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`;
  const found = schemaVersion(sql);
  if (!Number.isInteger(found) || found < 0 || found > SCHEMA_VERSION) {
    throw new Error(`host storage is at schema version ${found}; this code knows up to ${SCHEMA_VERSION}`);
  }
  for (let v = found; v < SCHEMA_VERSION; v++) STEPS[v](sql);
  if (found !== SCHEMA_VERSION) {
    sql`INSERT OR REPLACE INTO meta (key, value) VALUES (${VERSION_KEY}, ${JSON.stringify(SCHEMA_VERSION)})`;
  }
  return found;
}
