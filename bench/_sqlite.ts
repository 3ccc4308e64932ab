// A Durable Object's `ctx.storage` for benchmarks in Node: its `sql.exec` and `transactionSync`
// over node:sqlite, so the host object's storage layer (src/host/storage.ts) runs unchanged
// against a real SQLite file. Only what the storage layer uses is there.
import { DatabaseSync, type StatementSync } from "node:sqlite";

type Value = ArrayBuffer | string | number | null;

/** Opens (or creates) `path` in WAL mode, as a Durable Object's SQLite runs. */
export function sqliteStorage(path: string): DurableObjectStorage {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = NORMAL");
  const statements = new Map<string, StatementSync>();
  const sql = {
    exec(query: string, ...bindings: Value[]) {
      let stmt = statements.get(query);
      if (!stmt) {
        stmt = db.prepare(query);
        statements.set(query, stmt);
      }
      // node:sqlite binds typed arrays as BLOBs (an ArrayBuffer, or a view of an empty one,
      // binds as NULL) and reads BLOBs back as Uint8Array; the Workers runtime uses ArrayBuffer.
      const args = bindings.map((b) =>
        b instanceof ArrayBuffer ? (b.byteLength === 0 ? new Uint8Array(0) : new Uint8Array(b)) : b,
      );
      let rows: Record<string, Value>[] = [];
      let rowsWritten = 0;
      if (stmt.columns().length > 0) {
        rows = stmt.all(...args).map((r) => {
          const out: Record<string, Value> = {};
          for (const [k, v] of Object.entries(r)) {
            out[k] = v instanceof Uint8Array ? (v.slice().buffer as ArrayBuffer) : (v as Value);
          }
          return out;
        });
      } else rowsWritten = Number(stmt.run(...args).changes);
      return { toArray: () => rows, rowsWritten, rowsRead: rows.length };
    },
  };
  return {
    sql,
    transactionSync<T>(fn: () => T): T {
      db.exec("BEGIN");
      try {
        const out = fn();
        db.exec("COMMIT");
        return out;
      } catch (err) {
        db.exec("ROLLBACK");
        throw err;
      }
    },
  } as unknown as DurableObjectStorage;
}
