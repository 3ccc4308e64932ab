// Group commit of D1 batches (src/db/group-commit.ts): concurrent batches share round trips,
// each gets exactly its own results, and one that fails fails alone, with nothing of it
// applied and everything of the others applied.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { groupCommitting } from "../../src/db/group-commit";

/** A D1 binding whose batches are counted, behind a fresh group-committing one. */
function counted() {
  const seen = { batches: 0, statements: 0 };
  const d1 = new Proxy(env.DB, {
    get(target, prop) {
      if (prop === "batch") {
        return (stmts: D1PreparedStatement[]) => {
          seen.batches++;
          seen.statements += stmts.length;
          return target.batch(stmts);
        };
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return { db: groupCommitting(d1), seen };
}

const table = `gc_${Math.random().toString(36).slice(2, 8)}`;

async function fresh(name: string) {
  const t = `${table}_${name}`;
  await env.DB.prepare(`CREATE TABLE ${t} (id TEXT PRIMARY KEY, n INTEGER NOT NULL)`).run();
  return t;
}

describe("group commit of D1 batches", () => {
  it("sends a lone batch at once, in one round trip", async () => {
    const t = await fresh("lone");
    const { db, seen } = counted();
    const [ins, sel] = await db.batch([
      db.prepare(`INSERT INTO ${t} (id, n) VALUES ('a', 1)`),
      db.prepare(`SELECT n FROM ${t} WHERE id = 'a'`),
    ]);
    expect(ins.meta.changes).toBe(1);
    expect(sel.results).toEqual([{ n: 1 }]);
    expect(seen).toEqual({ batches: 1, statements: 2 });
  });

  it("carries concurrent batches in fewer round trips, each with its own results in order", async () => {
    const t = await fresh("many");
    const { db, seen } = counted();
    const n = 60;
    const answers = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        db.batch<{ id: string; n: number }>([
          db.prepare(`INSERT INTO ${t} (id, n) VALUES (?, ?)`).bind(`k${i}`, i),
          db.prepare(`UPDATE ${t} SET n = n + 1000 WHERE id = ?`).bind(`k${i}`),
          db.prepare(`SELECT id, n FROM ${t} WHERE id = ?`).bind(`k${i}`),
        ]),
      ),
    );
    answers.forEach((results, i) => {
      expect(results).toHaveLength(3);
      expect(results[0].meta.changes).toBe(1);
      expect(results[2].results).toEqual([{ id: `k${i}`, n: i + 1000 }]);
    });
    expect(seen.statements).toBe(3 * n);
    expect(seen.batches).toBeLessThan(n);
    expect(seen.batches).toBeGreaterThanOrEqual(2);
  });

  it("fails only the batch that fails, applying none of it and all of the others", async () => {
    const t = await fresh("fail");
    await env.DB.prepare(`INSERT INTO ${t} (id, n) VALUES ('taken', 0)`).run();
    const { db, seen } = counted();
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        db.batch([
          db.prepare(`INSERT INTO ${t} (id, n) VALUES (?, ?)`).bind(`ok${i}`, i),
          // Batch 7 also takes an id that exists: a unique violation.
          db.prepare(`INSERT INTO ${t} (id, n) VALUES (?, ?)`).bind(i === 7 ? "taken" : `ok${i}-b`, i),
        ]),
      ),
    );
    outcomes.forEach((o, i) => {
      expect(o.status).toBe(i === 7 ? "rejected" : "fulfilled");
    });
    const failed = outcomes[7] as PromiseRejectedResult;
    expect(String(failed.reason)).toMatch(/UNIQUE/);
    const rows = await env.DB.prepare(`SELECT id FROM ${t} ORDER BY id`).all<{ id: string }>();
    const ids = rows.results.map((r) => r.id);
    expect(ids).not.toContain("ok7");
    for (let i = 0; i < 20; i++) {
      if (i === 7) continue;
      expect(ids).toContain(`ok${i}`);
      expect(ids).toContain(`ok${i}-b`);
    }
    expect(ids).toHaveLength(1 + 19 * 2);
    // The group that held batch 7 went again one by one.
    expect(seen.batches).toBeGreaterThan(1);
  });

  it("keeps the next batches going after a failure", async () => {
    const t = await fresh("after");
    const { db } = counted();
    await expect(db.batch([db.prepare("SELECT * FROM no_such_table")])).rejects.toThrow(/no such table/);
    const [r] = await db.batch([db.prepare(`INSERT INTO ${t} (id, n) VALUES ('x', 1)`)]);
    expect(r.meta.changes).toBe(1);
  });
});
