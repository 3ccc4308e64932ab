import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { pack } from "../../src/host/pack";
import { SCHEMA_VERSION, schemaVersion } from "../../src/host/schema";
import { deletePiece, readPieces } from "../../src/host/segments";
import { sqlOver } from "../../src/host/sql";
import { addHosts, call, freshZone, launch, storedModel } from "./helpers";

interface Translated {
  instanceId: string;
  hostId: string;
  [field: string]: unknown;
}

const translate = (id: string, body: Record<string, unknown>) =>
  call<Translated>("POST", `/v1/instances/${id}/memory/translate`, body);

/** An answer about one instance with the names of the instance and its host taken out. */
function anonymous(body: unknown, id: string, hostId: string): unknown {
  return JSON.parse(JSON.stringify(body).replaceAll(id, "i-x").replaceAll(hostId, "h-x"));
}

/** Distinct pages spread over 64 GiB of one address space, the same run after run. */
function pages(n: number): number[] {
  let x = 12345;
  const seen = new Set<number>();
  const out: number[] = [];
  while (out.length < n) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const p = Math.floor(((x >>> 0) / 2 ** 32) * 16 * 1024 * 1024);
    if (seen.has(p)) continue;
    seen.add(p);
    out.push(0x7f00_0000_0000 + p * 4096);
  }
  return out;
}

describe("host storage of the memory model", () => {
  it("writes as much for a translate at 10,000 touched pages as at 100", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "m5", 1);
    const id = (await launch({ instanceType: "m5.4xlarge", availabilityZone: zone })).body.instances[0]
      .instanceId;
    const gvas = pages(10_000 + 2 * 20);
    const cost = await runInDurableObject(env.HOST.getByName(host.hostId), (_obj, state) => {
      const { store, m } = storedModel(state);
      let next = 0;
      const touchUpTo = (n: number) => {
        while (next < n) m.memory.touch(id, 1, gvas[next++], true);
        m.memoryChanged.add(id);
        store.transaction(() => store.save(m, []));
      };
      // New pages, each translated as the API does and then stored.
      const translates = (count: number) => {
        const each: { rows: number; bytes: number }[] = [];
        for (let i = 0; i < count; i++) {
          const before = { ...store.written };
          const out = m.access(id, { asid: 1, gva: gvas[next++], vcpu: i % 4, write: true }, 0);
          if (out?.handled === null) throw new Error("a new page should fault");
          store.transaction(() => store.save(m, []));
          each.push({ rows: store.written.rows - before.rows, bytes: store.written.bytes - before.bytes });
        }
        return each;
      };
      touchUpTo(100);
      const small = translates(20);
      touchUpTo(10_000 + 20);
      const large = translates(20);
      return { small, large };
    });
    const mean = (xs: { bytes: number }[]) => xs.reduce((n, x) => n + x.bytes, 0) / xs.length;
    // The same kinds of rows change whatever the working set: the pages' table entries, the
    // vCPU's TLB, the counters. Tables allocated on the way vary a little from page to page.
    expect(mean(cost.large)).toBeLessThan(mean(cost.small) * 1.25);
    // 20-34 rows and 17-32 KB each, where storing whole pieces writes 1.5 MB at 100 pages
    // and 37 MB at 10,000 (bench/memory.ts).
    for (const c of [...cost.small, ...cost.large]) {
      expect(c.bytes).toBeLessThan(64 * 1024);
      expect(c.rows).toBeLessThan(64);
    }
  });

  it("writes no more for the first translation after a load than for the next", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "m5", 1);
    // 96 vCPUs: 96 TLBs, which a store that could not compare them would rewrite whole.
    const id = (await launch({ instanceType: "m5.24xlarge", availabilityZone: zone })).body.instances[0]
      .instanceId;
    const gvas = pages(40);
    for (const gva of gvas.slice(0, 30)) await translate(id, { address: `0x${gva.toString(16)}`, vcpu: 5 });
    const cost = await runInDurableObject(env.HOST.getByName(host.hostId), (_obj, state) => {
      const { store, m } = storedModel(state);
      return gvas.slice(30, 33).map((gva, i) => {
        const before = { ...store.written };
        m.access(id, { asid: 1, gva, vcpu: 7 + i, write: false }, 0);
        store.transaction(() => store.save(m, []));
        return { rows: store.written.rows - before.rows, bytes: store.written.bytes - before.bytes };
      });
    });
    expect(cost[0].bytes).toBeLessThan(64 * 1024);
    expect(cost[0].rows).toBeLessThan(64);
    expect(cost[0].bytes).toBeLessThan(2 * Math.max(cost[1].bytes, cost[2].bytes));
  });

  it("answers after any number of evictions exactly as a twin that was never evicted", async () => {
    // The twins' workloads boot alike but then sample their memory every few simulated minutes with draws
    // seeded by their instance ids: the clock stands still, so what differs can only be the evictions.
    await call("PUT", "/v1/admin/clock", { mode: "manual" });
    try {
      await twins();
    } finally {
      await call("PUT", "/v1/admin/clock", { mode: "scaled" });
    }
  });

  async function twins() {
    const zone = freshZone();
    await addHosts(zone, "m5", 2);
    const launched = await launch({
      instanceType: "m5.xlarge",
      availabilityZone: zone,
      minCount: 2,
      maxCount: 2,
      placementStrategy: "spread",
    });
    const [a, b] = launched.body.instances;
    expect(a.hostId).not.toBe(b.hostId);
    // Revisited pages, reads and writes, four vCPUs: TLB hits, walks, faults and A/D bits.
    const pool = pages(60);
    let x = 99;
    const rnd = (n: number) => {
      x = (Math.imul(x, 1_103_515_245) + 12_345) >>> 0;
      return (x >>> 8) % n;
    };
    for (let i = 0; i < 240; i++) {
      const body = {
        address: `0x${pool[rnd(pool.length)].toString(16)}`,
        addressSpace: 1 + rnd(2),
        vcpu: rnd(4),
        write: rnd(3) === 0,
      };
      const [ra, rb] = [await translate(a.instanceId, body), await translate(b.instanceId, body)];
      expect(ra.status).toBe(200);
      expect(anonymous(ra.body, a.instanceId, a.hostId as string)).toEqual(
        anonymous(rb.body, b.instanceId, b.hostId as string),
      );
      if (i % 20 === 19) await evictDurableObject(env.HOST.getByName(a.hostId as string));
    }
    const summary = async (i: typeof a) => [
      anonymous(
        (await call("GET", `/v1/instances/${i.instanceId}/memory`)).body,
        i.instanceId,
        i.hostId as string,
      ),
      anonymous((await call("GET", `/v1/hosts/${i.hostId}/memory`)).body, i.instanceId, i.hostId as string),
    ];
    expect(await summary(a)).toEqual(await summary(b));
  }

  it("reads a store that version 1 wrote, whole pieces in blobs, and moves it to segments", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "m5", 1);
    const id = (await launch({ instanceType: "m5.large", availabilityZone: zone })).body.instances[0]
      .instanceId;
    const addresses = pages(40).map((p) => `0x${p.toString(16)}`);
    const hpas: unknown[] = [];
    for (const address of addresses) hpas.push((await translate(id, { address })).body.hpa);
    const before = (await call("GET", `/v1/instances/${id}/memory`)).body;
    const stub = env.HOST.getByName(host.hostId);
    // The memory model as version 1 stored it: each piece's JSON with its arrays as blob lists.
    await runInDurableObject(stub, (_obj, state) => {
      const sql = sqlOver(state.storage.sql);
      const pieces = readPieces(sql);
      sql`CREATE TABLE memory_blobs (piece TEXT NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (piece, idx))`;
      for (const [piece, { value }] of pieces) {
        deletePiece(sql, piece);
        const packed = pack(value);
        for (const [i, blob] of packed.blobs.entries()) {
          sql`INSERT INTO memory_blobs (piece, idx, data) VALUES (${piece}, ${i}, ${blob})`;
        }
        sql`INSERT INTO memory_pieces (piece, json) VALUES (${piece}, ${packed.json})`;
      }
      sql`DROP TABLE memory_segments`;
      sql`UPDATE meta SET value = ${JSON.stringify(1)} WHERE key = 'schemaVersion'`;
    });
    await evictDurableObject(stub);
    expect((await call("GET", `/v1/instances/${id}/memory`)).body).toEqual(before);
    for (const [i, address] of addresses.entries()) {
      const again = await translate(id, { address, vcpu: 1 });
      expect(again.body.fault).toBeNull();
      expect(again.body.hpa).toBe(hpas[i]);
    }
    const tables = await runInDurableObject(stub, (_obj, state) => {
      const sql = sqlOver(state.storage.sql);
      return {
        version: schemaVersion(sql),
        names: sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table'`.map((r) => r.name),
        segments: sql<{ n: number }>`SELECT count(*) AS n FROM memory_segments`[0].n,
      };
    });
    expect(tables.version).toBe(SCHEMA_VERSION);
    expect(tables.names).not.toContain("memory_blobs");
    expect(tables.segments).toBeGreaterThan(0);
  });
});
