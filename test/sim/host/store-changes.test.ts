// The host store writes only the CPU rows the model says changed (HostCpu.takeChanges) and checks only
// the threads' TLBs the memory model says were touched (HostMemory.takeTouchedThreads): after any
// sequence of calls, what it holds must be what writing the whole snapshot holds, and read back the
// same model. Runs the storage layer on node:sqlite, as the in-Node benches do.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { benchHost } from "../../../bench/_host";
import { sqliteStorage } from "../../../bench/_sqlite";
import { writeCpuRows } from "../../../src/host/cpu-rows";
import { migrate } from "../../../src/host/schema";
import { diffPiece } from "../../../src/host/segments";
import { sqlOver } from "../../../src/host/sql";
import { HostStorage } from "../../../src/host/storage";
import { findInstanceType } from "../../../src/sim/catalog";
import { PROFILE_NAMES } from "../../../src/sim/cpu";
import { type Changes, HostModel } from "../../../src/sim/host";
import { HostMemory } from "../../../src/sim/memory";
import { type InstanceRecord, offeredInstance } from "../../../src/sim/records";

const TYPES = ["m5.large", "m5.xlarge", "m5.2xlarge"] as const;

function offered(n: number, type: (typeof TYPES)[number]): InstanceRecord {
  const t = findInstanceType(type);
  if (!t) throw new Error(`${type} is not in the catalog`);
  return {
    ...offeredInstance(t, {
      instanceId: `i-0chg${String(n).padStart(8, "0")}`,
      accountId: "123456789012",
      reservationId: `r-${n}`,
    }),
    zone: "us-east-1a",
    nvmeGB: 0,
  };
}

type Op =
  | { kind: "launch"; type: (typeof TYPES)[number] }
  | { kind: "act"; pick: number; action: "stop" | "terminate" | "reboot" }
  | { kind: "start"; pick: number }
  | { kind: "reprofile"; pick: number; profile: (typeof PROFILE_NAMES)[number] }
  | { kind: "translate"; pick: number; page: number; write: boolean }
  | { kind: "reload" };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("launch" as const), type: fc.constantFrom(...TYPES) }),
  fc.record({
    kind: fc.constant("act" as const),
    pick: fc.nat(),
    action: fc.constantFrom("stop" as const, "terminate" as const, "reboot" as const),
  }),
  fc.record({ kind: fc.constant("start" as const), pick: fc.nat() }),
  fc.record({
    kind: fc.constant("reprofile" as const),
    pick: fc.nat(),
    profile: fc.constantFrom(...PROFILE_NAMES),
  }),
  fc.record({
    kind: fc.constant("translate" as const),
    pick: fc.nat(),
    page: fc.nat(4096),
    write: fc.boolean(),
  }),
  fc.record({ kind: fc.constant("reload" as const) }),
);

/** What the CPU rows read back as: the host part's JSON and each VM's JSON in the order of their places. */
function rowsOf(storage: DurableObjectStorage): { host: string | null; vms: { id: string; json: string }[] } {
  const sql = sqlOver(storage.sql);
  const host = sql<{ value: string }>`SELECT value FROM meta WHERE key = 'cpuHost'`[0]?.value ?? null;
  const vms = sql<{ vm_id: string; json: string }>`SELECT vm_id, json FROM cpu_vms ORDER BY seq`.map((r) => ({
    id: r.vm_id,
    json: r.json,
  }));
  return { host, vms };
}

/** The rows a whole snapshot makes (the reference: writeCpuRows, as the schema step that split the CPU model writes them). */
function referenceRows(m: HostModel) {
  const storage = sqliteStorage(":memory:");
  migrate(sqlOver(storage.sql));
  writeCpuRows(sqlOver(storage.sql), m.cpuSnapshot());
  return rowsOf(storage);
}

/** The memory model with each typed array as its kind and bytes, its VMs in order of id, so two compare exactly. */
function memoryOf(m: HostModel): string {
  const s = m.memory.snapshot();
  return JSON.stringify({ ...s, vms: s.vms.sort((a, b) => (a.vmId < b.vmId ? -1 : 1)) }, (_k, x: unknown) =>
    ArrayBuffer.isView(x)
      ? `${x.constructor.name}:${Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString("hex")}`
      : x,
  );
}

function build(store: HostStorage): HostModel {
  const stored = store.load().model;
  if (!stored) throw new Error("no host stored");
  let e = 0;
  return new HostModel(
    stored.host,
    stored.vms,
    stored.usageVersion,
    () => `e-r${e++}`,
    stored.cpu,
    stored.memory,
  );
}

describe("the CPU rows and memory pieces the host store writes from the model's changes", () => {
  it("hold after every call what the whole snapshot's rows hold, and read back the same model", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(op, fc.integer({ min: 0, max: 2500 })), { minLength: 1, maxLength: 14 }),
        (ops) => {
          const storage = sqliteStorage(":memory:");
          let store = new HostStorage(storage);
          store.migrate();
          store.load();
          let e = 0;
          let m = new HostModel(benchHost(), [], 0, () => `e-${e++}`);
          store.transaction(() => store.save(m, [m.created(0)]));
          let now = 0;
          let launched = 0;
          const stopped: InstanceRecord[] = [];
          for (const [o, dt] of ops) {
            now += dt;
            const running = m.list().filter((v) => v.holdExpiresWallMs === null);
            const pick = (n: number) => running[n % running.length]?.instance.instanceId;
            const changes: Changes[] = [m.settle(now)];
            for (const r of changes[0].removed) if (r.state === "stopped") stopped.push(r);
            if (o.kind === "reload") {
              // Another object reads the store: its model and its knowledge of the rows start afresh.
              store = new HostStorage(storage);
              m = build(store);
              continue;
            }
            if (o.kind === "launch") {
              changes.push(
                m.admit([offered(launched++, o.type)], now, { commitIfAtLeast: 1, holdExpiresWallMs: 0 })
                  .changes,
              );
            } else if (o.kind === "start" && stopped.length > 0) {
              const [rec] = stopped.splice(o.pick % stopped.length, 1);
              changes.push(m.admit([rec], now, { commitIfAtLeast: 1, holdExpiresWallMs: 0 }).changes);
            } else if (o.kind === "act" && pick(o.pick)) {
              const out = m.act(pick(o.pick)!, o.action, now);
              changes.push(out.changes);
            } else if (o.kind === "reprofile" && pick(o.pick)) {
              changes.push(m.setWorkload(pick(o.pick)!, o.profile, now).changes);
            } else if (o.kind === "translate" && pick(o.pick)) {
              m.access(
                pick(o.pick)!,
                { asid: 1, gva: 0x40_0000 + o.page * 4096, vcpu: 0, write: o.write },
                now,
              );
            }
            store.transaction(() => store.save(m, changes));
            expect(rowsOf(storage)).toEqual(referenceRows(m));
            const back = build(new HostStorage(storage));
            expect(JSON.stringify(back.cpuSnapshot())).toBe(JSON.stringify(m.cpuSnapshot()));
            // The memory pieces too: the threads' TLBs a call left alone are skipped, the rest written.
            expect(memoryOf(back)).toBe(memoryOf(m));
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it("snapshots and compares only the VMs that changed: a VM admitted in the same simulated second writes its own row alone", () => {
    const storage = sqliteStorage(":memory:");
    const store = new HostStorage(storage);
    store.migrate();
    store.load();
    const m = new HostModel(benchHost(), [], 0, () => "e");
    store.transaction(() => store.save(m, [m.created(0)]));
    for (let i = 0; i < 6; i++) {
      const { changes } = m.admit([offered(i, "m5.large")], 10 + i, {
        commitIfAtLeast: 1,
        holdExpiresWallMs: 0,
      });
      store.transaction(() => store.save(m, [changes]));
    }
    // Count the VMs the store asks the model for: within the second, the new one alone.
    const asked: string[] = [];
    const snapshotVm = m.cpuVmSnapshot.bind(m);
    m.cpuVmSnapshot = (id: string) => {
      asked.push(id);
      return snapshotVm(id);
    };
    const { changes } = m.admit([offered(6, "m5.large")], 20, { commitIfAtLeast: 1, holdExpiresWallMs: 0 });
    store.transaction(() => store.save(m, [changes]));
    expect(asked).toEqual([offered(6, "m5.large").instanceId]);
    // A reprofile: that VM alone.
    asked.length = 0;
    const id = offered(2, "m5.large").instanceId;
    store.transaction(() => store.save(m, [m.setWorkload(id, "idle", 30).changes]));
    expect(asked).toEqual([id]);
    // The clock runs a second: every VM moved, every VM is compared.
    asked.length = 0;
    store.transaction(() => store.save(m, [m.settle(1500)]));
    m.cpuAt(1500);
    store.transaction(() => store.save(m, []));
    expect(asked).toHaveLength(7);
    expect(rowsOf(storage)).toEqual(referenceRows(m));
  });

  it("sees a thread's TLB as unchanged from what was stored until an entry is filled or dropped", () => {
    const m = new HostModel(benchHost(), [], 0, () => "e");
    const rec = offered(0, "m5.large");
    m.admit([rec], 0, { commitIfAtLeast: 1, holdExpiresWallMs: 0 });
    const gva = 0x40_0000 + 7 * 4096;
    m.access(rec.instanceId, { asid: 1, gva, vcpu: 0, write: false }, 10);
    const thread = m.vm(rec.instanceId)?.instance.threads[0] ?? -1;
    // Diffing the image as a store does clears its marks; the state is what the store then holds.
    const { state } = diffPiece(m.memory.imageThreadTlb(thread), undefined);
    const unchanged = () =>
      m.memory.threadTlbUnchangedFrom(
        thread,
        state.fields.get("entries")?.byteLength ?? 0,
        state.fields.get("fifo")?.copy ?? new Uint8Array(0),
        state.fields.get("state")?.copy ?? new Uint8Array(0),
      );
    expect(unchanged()).toBe(true);
    // A lookup that hits changes nothing stored.
    m.access(rec.instanceId, { asid: 1, gva, vcpu: 0, write: false }, 10);
    expect(unchanged()).toBe(true);
    // munmap shoots the entry down: no set's FIFO moves, but a slot was emptied.
    expect(m.memory.unmap(rec.instanceId, 1, gva)).toBe(true);
    expect(unchanged()).toBe(false);
  });

  it("names the threads whose TLBs were made, filled, emptied or given another vCPU since it was last asked", () => {
    const memory = new HostMemory(64 * 1024 * 1024 * 1024);
    // A model made here: nothing of it is stored, so every thread is named.
    memory.createVm("vm-a", 2 * 1024 * 1024 * 1024, { vcpus: 2, threads: [4, 5] });
    expect(memory.takeTouchedThreads()).toEqual([4, 5]);
    expect(memory.takeTouchedThreads()).toEqual([]);
    // vCPU 1's first access faults: nothing is cached, but the vCPU is resident on thread 5 now.
    const t = memory.translate("vm-a", 1, 0x40_0000, 1, false);
    expect(t.fault).not.toBeNull();
    expect(memory.takeTouchedThreads()).toEqual([5]);
    // The access handled and retried: thread 5's TLB caches the page.
    memory.touch("vm-a", 1, 0x40_0000, false, 1);
    expect(memory.takeTouchedThreads()).toEqual([5]);
    expect(memory.translate("vm-a", 1, 0x40_0000, 1, false).tlbHit).toBe(true);
    // A hit changes nothing stored.
    expect(memory.takeTouchedThreads()).toEqual([]);
    // A new VM's threads are named as they are made; stopping a VM empties its threads' TLBs.
    memory.createVm("vm-b", 2 * 1024 * 1024 * 1024, { vcpus: 1, threads: [9] });
    expect(memory.takeTouchedThreads()).toEqual([9]);
    memory.destroyVm("vm-a");
    expect(memory.takeTouchedThreads()).toEqual([5]);
  });
});
