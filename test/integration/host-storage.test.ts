import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { OUTBOX_BATCH, OUTBOX_BATCH_BYTES, Outbox, takeBatch } from "../../src/host/outbox";
import { migrate, SCHEMA_VERSION, schemaVersion } from "../../src/host/schema";
import { diffPiece, readPieces, SEGMENT_BYTES, writePiece } from "../../src/host/segments";
import { sqlOver } from "../../src/host/sql";
import type { FleetEvent } from "../../src/sim/records";
import { addHosts, call, freshZone, hostView, launch, storedModel } from "./helpers";

const utf8 = new TextEncoder();

/** A fleet event whose JSON is about `bytes` long. */
function event(n: number, bytes = 300): FleetEvent {
  const e: FleetEvent = {
    id: `e-${n}`,
    type: "instance.updated",
    time: n,
    hostId: "h-test",
    instanceId: null,
    previousState: null,
    state: "",
    instance: null,
    host: null,
    hostRecord: null,
  };
  return { ...e, state: "x".repeat(Math.max(0, bytes - JSON.stringify(e).length)) };
}

/** A queue that keeps what it is sent, and refuses the batches `refuse` names (by call). */
function fakeQueue(refuse: (call: number) => boolean = () => false) {
  const batches: FleetEvent[][] = [];
  let calls = 0;
  const queue = {
    async sendBatch(msgs: Iterable<MessageSendRequest<FleetEvent>>) {
      if (refuse(calls++)) throw new Error("queue unavailable");
      batches.push([...msgs].map((m) => m.body));
    },
  } as unknown as Queue;
  return { queue, batches };
}

/** Runs `fn` inside a host object of its own (one with no host yet: only its tables). */
function inFreshObject<R>(fn: (state: DurableObjectState) => R | Promise<R>): Promise<R> {
  return runInDurableObject(env.HOST.getByName(crypto.randomUUID()), (_obj, state) => fn(state));
}

describe("the sql helper", () => {
  it("binds every interpolation as a parameter, never as SQL text", async () => {
    const hostile = "x'); DROP TABLE meta; --";
    const rows = await inFreshObject((state) => {
      const sql = sqlOver(state.storage.sql);
      const out = sql<{ v: string; n: number }>`SELECT ${hostile} AS v, ${41} + 1 AS n`;
      return { out, meta: sql<{ n: number }>`SELECT count(*) AS n FROM meta`[0].n };
    });
    expect(rows.out).toEqual([{ v: hostile, n: 42 }]);
    expect(rows.meta).toBeGreaterThan(0);
  });
});

describe("the memory store's segments in the runtime's SQLite", () => {
  it("stores each segment without its trailing zeros (the last too), an emptied one as no bytes, and reads them back", async () => {
    const rows = await inFreshObject((state) => {
      const sql = sqlOver(state.storage.sql);
      const table = new Float64Array(3 * (SEGMENT_BYTES / 8));
      table[0] = 7;
      table[SEGMENT_BYTES / 8] = 9;
      table[2 * (SEGMENT_BYTES / 8)] = 1;
      const first = diffPiece({ table }, undefined);
      writePiece(sql, "p", first.write, true);
      const lengths = () =>
        sql<{ idx: number; n: number; t: string }>`
          SELECT idx, length(data) AS n, typeof(data) AS t FROM memory_segments WHERE piece = 'p' ORDER BY idx`;
      const written = lengths();
      // The second page emptied: its row is rewritten as a blob of no bytes (not NULL).
      table[SEGMENT_BYTES / 8] = 0;
      writePiece(sql, "p", diffPiece({ table }, first.state).write);
      const back = readPieces(sql).get("p")?.value as { table: Float64Array };
      return { written, emptied: lengths(), back: [...back.table], expected: [...table] };
    });
    expect(rows.written).toEqual([
      { idx: 0, n: 8, t: "blob" },
      { idx: 1, n: 8, t: "blob" },
      { idx: 2, n: 8, t: "blob" },
    ]);
    expect(rows.emptied[1]).toEqual({ idx: 1, n: 0, t: "blob" });
    expect(rows.back).toEqual(rows.expected);
  });
});

describe("the host object's schema", () => {
  it("records its version in a new store", async () => {
    const version = await inFreshObject((state) => schemaVersion(sqlOver(state.storage.sql)));
    expect(SCHEMA_VERSION).toBeGreaterThan(0);
    expect(version).toBe(SCHEMA_VERSION);
  });

  it("upgrades a store from before versions in place, keeping its host and VMs", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "m5", 1);
    await launch({ instanceType: "m5.large", availabilityZone: zone, maxCount: 2 });
    const before = await hostView(host.hostId);
    const stub = env.HOST.getByName(host.hostId);
    // A store written before the version key existed has the same tables and no key.
    await runInDurableObject(stub, (_obj, state) => {
      state.storage.sql.exec("DELETE FROM meta WHERE key = 'schemaVersion'");
    });
    await evictDurableObject(stub);
    const after = await hostView(host.hostId);
    expect(after.vms).toEqual(before.vms);
    expect(after.usage).toEqual(before.usage);
    expect(await runInDurableObject(stub, (_obj, state) => schemaVersion(sqlOver(state.storage.sql)))).toBe(
      SCHEMA_VERSION,
    );
  });

  it("refuses a store written by a newer schema instead of reading it", async () => {
    const outcome = await inFreshObject((state) => {
      const sql = sqlOver(state.storage.sql);
      sql`UPDATE meta SET value = ${JSON.stringify(SCHEMA_VERSION + 1)} WHERE key = 'schemaVersion'`;
      try {
        migrate(sql);
        return "migrated";
      } catch (err) {
        return String(err);
      }
    });
    expect(outcome).toMatch(new RegExp(`schema version ${SCHEMA_VERSION + 1}`));
  });
});

describe("host storage", () => {
  it("writes nothing for a call that changes nothing, and only the memory for a translation", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "m5", 1);
    const launched = await launch({ instanceType: "m5.2xlarge", availabilityZone: zone, maxCount: 3 });
    const id = launched.body.instances[0].instanceId;
    const written = await runInDurableObject(env.HOST.getByName(host.hostId), (_obj, state) => {
      const { store, m } = storedModel(state);
      const sql = sqlOver(state.storage.sql);
      const meta = () => sql<{ key: string; value: string }>`SELECT key, value FROM meta ORDER BY key`;
      const save = () => {
        const before = { ...store.written };
        store.transaction(() => store.save(m, []));
        return { rows: store.written.rows - before.rows, bytes: store.written.bytes - before.bytes };
      };
      // Right after a load, the model is what the store holds.
      const idle = save();
      const metaBefore = meta();
      m.access(id, { asid: 1, gva: 0x7f00_0040_1000, vcpu: 0, write: true }, 0);
      const translated = save();
      return { idle, translated, metaSame: JSON.stringify(meta()) === JSON.stringify(metaBefore) };
    });
    expect(written.idle).toEqual({ rows: 0, bytes: 0 });
    expect(written.translated.rows).toBeGreaterThan(0);
    // Neither the CPU model nor the usage version moved, so neither row was written again.
    expect(written.metaSame).toBe(true);
  });

  it("keeps a host's state change across eviction of its object", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "c5", 1);
    expect((await call("PUT", `/v1/hosts/${host.hostId}/state`, { state: "maintenance" })).status).toBe(200);
    await evictDurableObject(env.HOST.getByName(host.hostId));
    const view = await hostView(host.hostId);
    expect(view.host.state).toBe("maintenance");
    expect(view.usage.state).toBe("maintenance");
  });
});

describe("the host outbox", () => {
  it("delivers oldest first in batches capped in messages and in bytes, and empties", async () => {
    // 150 small events and 20 of 40 KB: both caps bind somewhere in the run.
    const events = [
      ...Array.from({ length: 150 }, (_, i) => event(i)),
      ...Array.from({ length: 20 }, (_, i) => event(150 + i, 40 * 1024)),
    ];
    const { queue, batches } = fakeQueue();
    const pending = await inFreshObject(async (state) => {
      const outbox = new Outbox(sqlOver(state.storage.sql), queue);
      outbox.append(events);
      const before = outbox.pending();
      await outbox.deliver();
      return { before, after: outbox.pending() };
    });
    expect(pending).toEqual({ before: 170, after: 0 });
    expect(batches.flat().map((e) => e.id)).toEqual(events.map((e) => e.id));
    const sizes = batches.map((b) => b.reduce((n, e) => n + utf8.encode(JSON.stringify(e)).length, 0));
    expect(Math.max(...batches.map((b) => b.length))).toBe(OUTBOX_BATCH);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(OUTBOX_BATCH_BYTES);
    // The 40 KB events go four to a batch: a fifth would pass 192 KB.
    expect(batches.at(-1)?.length).toBe(4);
  });

  it("keeps what the queue refused for a later delivery, and sends each event once", async () => {
    const events = Array.from({ length: 250 }, (_, i) => event(i));
    const down = fakeQueue((n) => n === 1);
    const up = fakeQueue();
    const result = await inFreshObject(async (state) => {
      const sql = sqlOver(state.storage.sql);
      const first = new Outbox(sql, down.queue);
      first.append(events);
      await first.deliver();
      const left = first.pending();
      await new Outbox(sql, up.queue).deliver();
      return { left, after: first.pending() };
    });
    // The first batch went; the second failed, and with it the rest stayed.
    expect(result.left).toBe(250 - OUTBOX_BATCH);
    expect(result.after).toBe(0);
    expect([...down.batches, ...up.batches].flat().map((e) => e.id)).toEqual(events.map((e) => e.id));
  });

  it("runs one delivery at a time, so overlapping calls do not send twice", async () => {
    const events = Array.from({ length: 120 }, (_, i) => event(i));
    const { queue, batches } = fakeQueue();
    await inFreshObject(async (state) => {
      const outbox = new Outbox(sqlOver(state.storage.sql), queue);
      outbox.append(events);
      await Promise.all([outbox.deliver(), outbox.deliver()]);
    });
    expect(batches.flat().map((e) => e.id)).toEqual(events.map((e) => e.id));
  });

  it("sends an event larger than the byte cap alone rather than holding the outbox up", () => {
    const rows = [{ body: "x".repeat(300) }, { body: "y".repeat(300) }];
    expect(takeBatch(rows, 100)).toEqual([rows[0]]);
    expect(takeBatch(rows, 600)).toEqual(rows);
    expect(takeBatch(rows, 599)).toEqual([rows[0]]);
  });
});

describe("the host outbox under a queue that refuses", () => {
  it("waits longer after each failure in a row, tries no sooner, and starts over once one goes", async () => {
    const events = Array.from({ length: 3 }, (_, i) => event(i));
    // The first three deliveries are refused, the fourth goes.
    const { queue, batches } = fakeQueue((n) => n < 3);
    const seen = await inFreshObject(async (state) => {
      const outbox = new Outbox(sqlOver(state.storage.sql), queue);
      outbox.append(events);
      const t0 = 1_000_000;
      const waits: number[] = [];
      let now = t0;
      for (let i = 0; i < 3; i++) {
        await outbox.deliver(now);
        const at = outbox.nextAttemptAt(now);
        waits.push(at - now);
        // A call before the wait has passed sends nothing (the queue is not even asked).
        await outbox.deliver(at - 1);
        now = at;
      }
      await outbox.deliver(now);
      const left = outbox.pending();
      outbox.append([event(9)]);
      return { waits, left, afterSuccess: outbox.nextAttemptAt(now) - now };
    });
    expect(seen.left).toBe(0);
    expect(batches.flat().map((e) => e.id)).toEqual(events.map((e) => e.id));
    // 5 s, 10 s, 20 s, each jittered over its upper half.
    expect(seen.waits[0]).toBeGreaterThanOrEqual(2_500);
    expect(seen.waits[0]).toBeLessThanOrEqual(5_000);
    expect(seen.waits[1]).toBeGreaterThanOrEqual(5_000);
    expect(seen.waits[1]).toBeLessThanOrEqual(10_000);
    expect(seen.waits[2]).toBeGreaterThanOrEqual(10_000);
    expect(seen.waits[2]).toBeLessThanOrEqual(20_000);
    // A delivery that went through resets the backoff.
    expect(seen.afterSuccess).toBe(5_000);
  });

  it("holds events for a caller that confirms them: confirmed ones are never sent, unconfirmed ones go when the hold ends", async () => {
    const { queue, batches } = fakeQueue();
    const seen = await inFreshObject(async (state) => {
      const outbox = new Outbox(sqlOver(state.storage.sql), queue);
      const t0 = 2_000_000;
      outbox.hold(t0 + 30_000);
      outbox.append([event(1), event(2)]);
      await outbox.deliver(t0);
      const heldAlarm = outbox.nextAttemptAt(t0) - t0;
      const whileHeld = batches.length;
      outbox.drop(["e-1"]);
      const afterDrop = { pending: outbox.pending(), held: outbox.held(t0) };
      await outbox.deliver(t0);
      // A second hold that nobody confirms: the event goes once it has passed.
      outbox.hold(t0 + 30_000);
      outbox.append([event(3)]);
      await outbox.deliver(t0 + 1_000);
      const beforeEnd = batches.flat().length;
      await outbox.deliver(t0 + 30_000);
      return { heldAlarm, whileHeld, afterDrop, beforeEnd, left: outbox.pending() };
    });
    expect(seen.heldAlarm).toBe(30_000);
    expect(seen.whileHeld).toBe(0);
    expect(seen.afterDrop).toEqual({ pending: 1, held: false });
    expect(seen.beforeEnd).toBe(1);
    expect(seen.left).toBe(0);
    expect(batches.flat().map((e) => e.id)).toEqual(["e-2", "e-3"]);
  });
});
