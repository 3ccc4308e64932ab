// A storage node's tables: its record, the copies it holds and their blocks, and its outbox. Versioned
// like the host object's (schema.ts): a `meta` key holds the version, each step is IF NOT EXISTS.
import type { StorageNodeRecord } from "../sim/storage/replicas";
import type { Sql } from "./sql";

/** Blocks a page of `blocks` carries at most: 256 blocks of 4 KiB is 1 MiB an answer. */
export const BLOCK_PAGE_MAX = 256;

const STEPS: readonly ((sql: Sql) => void)[] = [
  (sql) => {
    sql`CREATE TABLE IF NOT EXISTS node (id INTEGER PRIMARY KEY CHECK (id = 1), body TEXT NOT NULL)`;
    // One row per copy; `account_id` says whose data it is, for reconcile and for nothing else.
    sql`CREATE TABLE IF NOT EXISTS replicas (volume_id TEXT PRIMARY KEY, account_id TEXT NOT NULL, created_at INTEGER NOT NULL)`;
    sql`CREATE TABLE IF NOT EXISTS blocks (volume_id TEXT NOT NULL, n INTEGER NOT NULL, seq INTEGER NOT NULL, checksum TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (volume_id, n))`;
    sql`CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, body TEXT NOT NULL)`;
  },
];

const VERSION_KEY = "schemaVersion";

export function migrateNode(sql: Sql): void {
  sql`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`;
  const row = sql<{ value: string }>`SELECT value FROM meta WHERE key = ${VERSION_KEY}`[0];
  const found = row ? Number(JSON.parse(row.value)) : 0;
  if (!Number.isInteger(found) || found < 0 || found > STEPS.length) {
    throw new Error(`storage node is at schema version ${found}; this code knows up to ${STEPS.length}`);
  }
  for (let v = found; v < STEPS.length; v++) STEPS[v](sql);
  if (found !== STEPS.length) {
    sql`INSERT OR REPLACE INTO meta (key, value) VALUES (${VERSION_KEY}, ${JSON.stringify(STEPS.length)})`;
  }
}

export function loadNode(sql: Sql): StorageNodeRecord | null {
  const row = sql<{ body: string }>`SELECT body FROM node WHERE id = 1`[0];
  return row ? (JSON.parse(row.body) as StorageNodeRecord) : null;
}

export function saveNode(sql: Sql, node: StorageNodeRecord): void {
  sql`INSERT OR REPLACE INTO node (id, body) VALUES (1, ${JSON.stringify(node)})`;
}
