import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { SCHEMA_VERSION, schemaVersion } from "../../src/host/schema";
import { deletePiece, PACK_BELOW_BYTES, PACKED_FIELD, readPieces } from "../../src/host/segments";
import { sqlOver } from "../../src/host/sql";
import { HostStorage } from "../../src/host/storage";
import { findInstanceType } from "../../src/sim/catalog";
import { HostModel } from "../../src/sim/host";
import { materialize } from "../../src/sim/memory/index";
import { type InstanceRecord, offeredInstance } from "../../src/sim/records";
import { legacyPiece } from "../sim/host/legacy-pieces";
import { addHosts, call, freshZone, launch, storedModel } from "./helpers";

/** An m5.large as a launch offers it to a host. */
function m5Large(n: number, zone: string): InstanceRecord {
  const type = findInstanceType("m5.large");
  if (!type) throw new Error("m5.large is not in the catalog");
  return {
    ...offeredInstance(type, {
      instanceId: `i-0adm${String(n).padStart(12, "0")}`,
      accountId: "123456789012",
      reservationId: `r-0adm${n}`,
    }),
    zone,
    nvmeGB: 0,
  };
}

/** A model as JSON with each typed array as its bytes, so two compare exactly. */
function plain(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    ArrayBuffer.isView(x)
      ? `${x.constructor.name}:${Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString("hex")}`
      : x,
  );
}

function memoryOf(m: HostModel): string {
  const s = m.memory.snapshot();
  return plain({ ...s, vms: s.vms.sort((a, b) => (a.vmId < b.vmId ? -1 : 1)) });
}

describe("what the host object stores for an admission", () => {
  it("stores the 48th m5.large on an m5 host in at most 56 rows and 90 KB, hardly more than the second, and reads back the same model", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "m5", 1);
    const stub = env.HOST.getByName(host.hostId);
    const out = await runInDurableObject(stub, (_obj, state) => {
      const { store, m } = storedModel(state);
      const now = m.cpuSnapshot().nowMs;
      const cost: { rows: number; bytes: number }[] = [];
      for (let i = 0; i < 48; i++) {
        const before = { ...store.written };
        const { admitted, changes } = m.admit([m5Large(i, zone)], now, {
          commitIfAtLeast: 1,
          holdExpiresWallMs: 0,
        });
        if (admitted.length !== 1) throw new Error(`admission ${i + 1} did not fit`);
        store.transaction(() => store.save(m, [m.settle(now), changes]));
        cost.push({ rows: store.written.rows - before.rows, bytes: store.written.bytes - before.bytes });
      }
      // The model as another object would build it from the store.
      const stored = new HostStorage(state.storage).load().model;
      if (!stored) throw new Error("no host stored");
      const back = new HostModel(
        stored.host,
        stored.vms,
        stored.usageVersion,
        () => "e",
        stored.cpu,
        stored.memory,
      );
      // The rows hold what writing the whole snapshot would: the store wrote only the VMs the model
      // said changed, and each admission's own row.
      const sql = sqlOver(state.storage.sql);
      const rows = sql<{ json: string }>`SELECT json FROM cpu_vms ORDER BY seq`.map((r) => r.json);
      const hostPart = sql<{ value: string }>`SELECT value FROM meta WHERE key = 'cpuHost'`[0]?.value;
      const { vms: whole, ...host } = m.cpuSnapshot();
      return {
        cost,
        same: {
          cpu: JSON.stringify(back.cpuSnapshot()) === JSON.stringify(m.cpuSnapshot()),
          memory: memoryOf(back) === memoryOf(m),
          vms: back.list().length,
          rows: JSON.stringify(rows) === JSON.stringify(whole.map((vm) => JSON.stringify(vm))),
          hostPart: hostPart === JSON.stringify(host),
        },
      };
    });
    // The object's own copy of the model is older than the store now.
    await evictDurableObject(stub);
    expect(out.same).toEqual({ cpu: true, memory: true, vms: 48, rows: true, hostPart: true });
    const [second, last] = [out.cost[1], out.cost[47]];
    // SQLite counts two rows written for each row of these tables (the row and its key's index).
    // Before: 96 rows and 137 KB for the 48th (75 KB for the second), where the whole CPU snapshot
    // (42 KB) and the frame map's JSON (22 KB) grew with every VM and each small array was a row.
    // Now 52 rows and 79 KB.
    expect(last.rows).toBeLessThanOrEqual(56);
    expect(last.bytes).toBeLessThan(90 * 1024);
    // What grows with the VMs already there is the frame map's packed lists, a few bytes a VM.
    expect(last.bytes).toBeLessThan(second.bytes + 4 * 1024);
    expect(last.rows).toBeLessThanOrEqual(second.rows);
  });

  it("reads a store written in the earlier layout (the CPU model whole, small arrays in segments, the threads' TLBs in the frame map's piece) and moves what it next writes", async () => {
    await call("PUT", "/v1/admin/clock", { mode: "manual" });
    try {
      const zone = freshZone();
      const [host] = await addHosts(zone, "m5", 1);
      const launched = await launch({
        instanceType: "m5.large",
        availabilityZone: zone,
        minCount: 3,
        maxCount: 3,
      });
      const ids = launched.body.instances.map((i) => i.instanceId);
      for (const [k, id] of ids.entries()) {
        for (let p = 0; p < 6; p++) {
          const address = `0x${(0x7f00_0000_0000 + (k * 64 + p) * 7919 * 4096).toString(16)}`;
          await call("POST", `/v1/instances/${id}/memory/translate`, {
            address,
            vcpu: p % 2,
            write: p % 2 === 0,
          });
        }
      }
      const views = async () => ({
        host: (await call("GET", `/v1/hosts/${host.hostId}/memory`)).body,
        vms: await Promise.all(ids.map(async (id) => (await call("GET", `/v1/instances/${id}/memory`)).body)),
        cpu: await Promise.all(ids.map(async (id) => (await call("GET", `/v1/instances/${id}/cpu`)).body)),
      });
      const before = await views();
      const stub = env.HOST.getByName(host.hostId);
      const model = await runInDurableObject(stub, (_obj, state) => {
        const { m } = storedModel(state);
        const sql = sqlOver(state.storage.sql);
        // Version 7: the CPU snapshot whole under meta key cpu, and every piece in the old layout.
        sql`INSERT OR REPLACE INTO meta (key, value) VALUES ('cpu', ${JSON.stringify(m.cpuSnapshot())})`;
        sql`DELETE FROM meta WHERE key = 'cpuHost'`;
        sql`DROP TABLE cpu_vms`;
        for (const piece of readPieces(sql).keys()) deletePiece(sql, piece);
        const pieces: [string, unknown][] = [["frames", materialize(m.memory.imageFrames())]];
        for (const id of m.memory.vmIds()) pieces.push([`vm:${id}`, materialize(m.memory.imageVm(id))]);
        for (const [piece, image] of pieces) {
          const old = legacyPiece(image);
          sql`INSERT INTO memory_pieces (piece, json) VALUES (${piece}, ${old.json})`;
          for (const s of old.segments) {
            sql`INSERT INTO memory_segments (piece, field, idx, data) VALUES (${piece}, ${s.field}, ${s.idx}, ${s.data})`;
          }
        }
        sql`UPDATE meta SET value = ${JSON.stringify(7)} WHERE key = 'schemaVersion'`;
        return { cpu: JSON.stringify(m.cpuSnapshot()), memory: memoryOf(m) };
      });
      await evictDurableObject(stub);
      expect(await views()).toEqual(before);
      // The object upgraded the store as it woke; read as the object reads it, it is the same model.
      const upgraded = await runInDurableObject(stub, (_obj, state) => {
        const { m } = storedModel(state);
        return { cpu: JSON.stringify(m.cpuSnapshot()), memory: memoryOf(m) };
      });
      expect(upgraded.cpu).toBe(model.cpu);
      expect(upgraded.memory).toBe(model.memory);
      // A write: the frame map's piece, each thread's and the translated VM's move to the new layout.
      const again = await call<{ hpa: unknown }>("POST", `/v1/instances/${ids[0]}/memory/translate`, {
        address: `0x${(0x7f00_0000_0000 + 7919 * 4096 * 2).toString(16)}`,
      });
      expect(again.status).toBe(200);
      const stored = await runInDurableObject(stub, (_obj, state) => {
        const sql = sqlOver(state.storage.sql);
        const pieces = readPieces(sql);
        // An array in segments of its own that the piece's JSON names without a length (the
        // earlier layout) or with one below PACK_BELOW_BYTES: a small array not yet packed.
        const lengths = new Map<string, number>();
        for (const r of sql<{ piece: string; json: string }>`SELECT piece, json FROM memory_pieces`) {
          JSON.parse(r.json, (_k, v: unknown) => {
            if (v !== null && typeof v === "object" && "$seg" in v) {
              const ref = v as unknown as { field: string; bytes?: number };
              lengths.set(`${r.piece} ${ref.field}`, ref.bytes ?? 0);
            }
            return v;
          });
        }
        const smallAlone = sql<{ piece: string; field: string }>`
          SELECT DISTINCT piece, field FROM memory_segments WHERE field != ${PACKED_FIELD}`.filter(
          (r) => (lengths.get(`${r.piece} ${r.field}`) ?? 0) < PACK_BELOW_BYTES,
        );
        return {
          version: schemaVersion(sql),
          wholeCpu: sql`SELECT value FROM meta WHERE key = 'cpu'`.length,
          cpuRows: sql<{ n: number }>`SELECT count(*) AS n FROM cpu_vms`[0].n,
          threadPieces: [...pieces.keys()].filter((p) => p.startsWith("tlb:")).length,
          framesHasThreads: JSON.stringify(
            (pieces.get("frames")?.value as { threadTlbs?: unknown } | undefined)?.threadTlbs ?? null,
          ),
          smallAlone: smallAlone.map((r) => r.piece),
        };
      });
      expect(stored.version).toBe(SCHEMA_VERSION);
      expect(stored.wholeCpu).toBe(0);
      expect(stored.cpuRows).toBe(3);
      // Three m5.large, two vCPUs each, pinned to threads of their own.
      expect(stored.threadPieces).toBe(6);
      expect(stored.framesHasThreads).toBe("null");
      // The pieces not written since keep their small arrays in segments; the written ones do not.
      expect(stored.smallAlone).not.toContain("frames");
      expect(stored.smallAlone).not.toContain(`vm:${ids[0]}`);
      await evictDurableObject(stub);
      const after = await views();
      expect(after.vms.slice(1)).toEqual(before.vms.slice(1));
    } finally {
      await call("PUT", "/v1/admin/clock", { mode: "scaled" });
    }
  });
});
