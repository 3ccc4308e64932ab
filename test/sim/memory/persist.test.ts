import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  diffPiece,
  type PieceState,
  type PieceWrite,
  readPiece,
  SEGMENT_BYTES,
} from "../../../src/host/segments";
import { Rng } from "../../../src/sim/cpu/rng";
import {
  bootWorkload,
  DirtyUnits,
  HostMemory,
  type HostMemorySnapshot,
  PAGE_1G,
  PAGE_2M,
  PAGE_4K,
  sampleWorkload,
  Tracked,
  type VmMemoryOptions,
} from "../../../src/sim/memory/index";
import { asVersion2 } from "./version-2";

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/** The memory_pieces and memory_segments tables as maps, written the way storage.ts writes them. */
class PieceStore {
  pieces = new Map<string, { json: string; segments: Map<string, Map<number, ArrayBuffer>> }>();
  /** What the writer believes is stored, as storage.ts keeps it. */
  states = new Map<string, PieceState>();
  bytesWritten = 0;

  save(piece: string, image: unknown): PieceWrite {
    const { write, state } = diffPiece(image, this.states.get(piece));
    if (write.fresh) this.pieces.delete(piece);
    const p = this.pieces.get(piece) ?? { json: "", segments: new Map() };
    this.pieces.set(piece, p);
    if (write.json !== null) p.json = write.json;
    for (const f of write.drop) p.segments.delete(f);
    for (const t of write.truncate) {
      for (const idx of [...(p.segments.get(t.field)?.keys() ?? [])]) {
        if (idx >= t.from) p.segments.get(t.field)?.delete(idx);
      }
    }
    for (const s of write.segments) {
      const f = p.segments.get(s.field) ?? new Map<number, ArrayBuffer>();
      p.segments.set(s.field, f);
      f.set(s.idx, s.data);
      this.bytesWritten += s.data.byteLength;
    }
    this.states.set(piece, state);
    return write;
  }

  drop(piece: string): void {
    this.pieces.delete(piece);
    this.states.delete(piece);
  }

  /** One piece read back; the writer's beliefs about it start again from there. */
  read(piece: string): unknown {
    const p = this.pieces.get(piece);
    if (!p) throw new Error(`no piece ${piece}`);
    const segments = [...p.segments].flatMap(([field, m]) =>
      [...m].map(([idx, data]) => ({ field, idx, data })),
    );
    const { value, state } = readPiece<unknown>(p.json, segments);
    this.states.set(piece, state);
    return value;
  }

  /** Every piece read back, as storage.ts loads them. */
  load(): HostMemorySnapshot {
    this.states.clear();
    const frames = this.read("frames") as Omit<HostMemorySnapshot, "vms">;
    const vms = [...this.pieces.keys()]
      .filter((k) => k.startsWith("vm:"))
      .map((k) => this.read(k) as HostMemorySnapshot["vms"][number]);
    return { ...frames, vms };
  }
}

/**
 * A host's snapshot with its VMs in one order (the store keeps pieces in none) and each typed
 * array as its kind and bytes, so comparing two is quick and exact to the bit.
 */
function snapshotOf(host: HostMemory): unknown {
  const s = host.snapshot();
  const bytes = (v: unknown): unknown => {
    if (ArrayBuffer.isView(v)) {
      return `${v.constructor.name}:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64")}`;
    }
    if (Array.isArray(v)) return v.map(bytes);
    if (v !== null && typeof v === "object")
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, bytes(x)]));
    return v;
  };
  return bytes({ ...s, vms: s.vms.sort((a, b) => (a.vmId < b.vmId ? -1 : 1)) });
}

/** Stores what changed, as the host object does after a call that touched `vms`. */
function store(s: PieceStore, host: HostMemory, vms: Iterable<string>, dropped: Iterable<string> = []): void {
  for (const id of dropped) s.drop(`vm:${id}`);
  s.save("frames", host.imageFrames());
  for (const id of vms) s.save(`vm:${id}`, host.imageVm(id));
}

const MMIO = 16 * PAGE_4K;
const SHAPES: Record<string, VmMemoryOptions> = {
  ept4k: { vcpus: 2, eptPageSize: PAGE_4K, pageWalkCache: { guest: 4, nested: 8 }, mmioBytes: MMIO },
  thp: { vcpus: 2, guestPageSize: PAGE_2M, eptPageSize: PAGE_2M, mmioBytes: MMIO },
  shadow: { vcpus: 2, mode: "shadow", eptPageSize: PAGE_4K, mmioBytes: MMIO },
  la57: { vcpus: 1, guestLevels: 5, eptLevels: 5, eptPageSize: PAGE_1G, tagged: false, mmioBytes: MMIO },
};

type Op =
  | { k: "touch"; vm: number; asid: number; page: number; write: boolean; vcpu: number }
  | { k: "translate"; vm: number; asid: number; page: number; write: boolean; vcpu: number }
  | { k: "unmap"; vm: number; asid: number; page: number }
  | { k: "remap"; vm: number; page: number }
  | { k: "mmio"; vm: number; page: number }
  | { k: "recreate"; vm: number }
  | { k: "sample"; vm: number; seed: number }
  | { k: "store" }
  | { k: "evict" };

const vmIndex = fc.integer({ min: 0, max: 3 });
// A small pool of pages, so they are revisited (read, then written), unmapped and touched again:
// neighbours in one table, and others tables apart over 64 GiB.
const page = fc.constantFrom(0, 1, 513, 262_147, 5 * 262_147 + 7, 63 * 262_147);
const access = fc.record({
  vm: vmIndex,
  asid: fc.integer({ min: 1, max: 2 }),
  page,
  write: fc.boolean(),
  vcpu: fc.integer({ min: 0, max: 1 }),
});
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: access.map((a) => ({ k: "touch" as const, ...a })) },
  { weight: 3, arbitrary: access.map((a) => ({ k: "translate" as const, ...a })) },
  {
    weight: 2,
    arbitrary: fc
      .record({ vm: vmIndex, asid: fc.integer({ min: 1, max: 2 }), page })
      .map((a) => ({ k: "unmap" as const, ...a })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ vm: vmIndex, page: fc.integer({ min: 0, max: 255 }) })
      .map((a) => ({ k: "remap" as const, ...a })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ vm: vmIndex, page: fc.integer({ min: 0, max: 15 }) })
      .map((a) => ({ k: "mmio" as const, ...a })),
  },
  { weight: 1, arbitrary: vmIndex.map((vm) => ({ k: "recreate" as const, vm })) },
  {
    weight: 2,
    arbitrary: fc
      .record({ vm: vmIndex, seed: fc.integer({ min: 1, max: 1000 }) })
      .map((a) => ({ k: "sample" as const, ...a })),
  },
  { weight: 3, arbitrary: fc.constant({ k: "store" as const }) },
  { weight: 1, arbitrary: fc.constant({ k: "evict" as const }) },
);

describe("storing the memory model in segments", () => {
  it("reads back exactly the model it stored, however the writes, workload samples and restores interleave", () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 10, maxLength: 80, size: "max" }), (ops) => {
        const names = Object.keys(SHAPES);
        let host = new HostMemory(16 * GiB);
        for (const n of names) host.createVm(n, GiB, SHAPES[n]);
        const s = new PieceStore();
        store(s, host, names);
        const changed = new Set<string>();
        const dropped = new Set<string>();
        for (const o of ops) {
          if (o.k === "store" || o.k === "evict") {
            store(s, host, changed, dropped);
            changed.clear();
            dropped.clear();
            const back = HostMemory.restore(s.load());
            expect(snapshotOf(back)).toEqual(snapshotOf(host));
            // After an eviction the object goes on with the model it read back.
            if (o.k === "evict") host = back;
            continue;
          }
          const id = names[o.vm];
          changed.add(id);
          const gva = 0x7f00_0000_0000 + ("page" in o ? o.page : 0) * PAGE_4K;
          if (o.k === "touch") host.touch(id, o.asid, gva, o.write, o.vcpu % host.vm(id).opts.vcpus);
          else if (o.k === "translate")
            host.translate(id, o.asid, gva, o.vcpu % host.vm(id).opts.vcpus, o.write);
          else if (o.k === "unmap") host.unmap(id, o.asid, gva);
          else if (o.k === "remap") host.remap(id, o.page * 2 * MiB + PAGE_4K);
          else if (o.k === "mmio") host.touchPhysical(id, GiB + o.page * PAGE_4K);
          else if (o.k === "sample") {
            // The workload's samples walk, touch and rewrite table entries in place (memory/workload.ts).
            const rng = new Rng(o.seed);
            const random = () => rng.next();
            const vm = host.vm(id);
            if (!vm.workload) bootWorkload(vm, 0.3, random);
            else
              sampleWorkload(
                vm,
                { seconds: 300, misses: 1e6, newPages: 1e3, ptUpdates: 1e4, writeShare: 0.3 },
                random,
              );
          } else {
            host.destroyVm(id);
            dropped.add(id);
            host.createVm(id, GiB, SHAPES[id]);
          }
        }
        store(s, host, changed, dropped);
        expect(snapshotOf(HostMemory.restore(s.load()))).toEqual(snapshotOf(host));
      }),
      { numRuns: 60 },
    );
  }, 120_000);

  /**
   * Random grow, shrink and write steps on a model array (its used length a view of its capacity)
   * with the marks of its writes, stored tracked and as a copy: each read back is what was used.
   */
  function growsAndShrinks(live: Float64Array | Int32Array, minLength: number, values: number[]): void {
    const perSegment = SEGMENT_BYTES / live.BYTES_PER_ELEMENT;
    const segments = live.length / perSegment;
    const cap = live.length;
    const hex = (a: Float64Array | Int32Array) =>
      Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex");
    const step = fc.record({
      // Lengths that end on a segment's edge, where the last segment is a whole one, and others.
      length: fc.oneof(
        fc.integer({ min: Math.ceil(minLength / perSegment), max: segments }).map((n) => n * perSegment),
        fc.integer({ min: minLength, max: cap }),
      ),
      writes: fc.array(fc.tuple(fc.integer({ min: 0, max: cap - 1 }), fc.constantFrom(...values)), {
        maxLength: 4,
      }),
    });
    const initial = live.slice();
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 12 }), fc.boolean(), (steps, reload) => {
        const s = new PieceStore();
        live.set(initial);
        const marks = new DirtyUnits();
        for (const { length, writes } of steps) {
          for (const [i, v] of writes) {
            live[i] = v;
            marks.mark(i);
          }
          const used = live.subarray(0, length);
          s.save("p", { tracked: new Tracked(used, 1, marks), copied: used.slice() });
          const believed = s.states.get("p");
          const back = s.read("p") as { tracked: typeof used; copied: typeof used };
          expect(hex(back.tracked)).toBe(hex(used));
          expect(hex(back.copied)).toBe(hex(used));
          // The writer goes on from what it read back, or (as a host object that was not
          // evicted) from what it believed it wrote.
          if (!reload && believed) s.states.set("p", believed);
        }
      }),
      { numRuns: 300 },
    );
  }

  it("leaves out segments of zeros it does not hold and reads them back as zeros, as arrays grow, shrink and change", () => {
    const CAP = 6 * (SEGMENT_BYTES / 8);
    growsAndShrinks(new Float64Array(CAP), 0, [0, 1, -2.5]);
    // Six segments of zeros, new to the store: none is written (the JSON gives the length).
    const w = new PieceStore().save("p", { zeros: new Float64Array(CAP) });
    expect(w.segments.map((x) => x.idx)).toEqual([]);
  });

  it("leaves out segments of -1s and reads them back as -1s, as a pool's child slots grow, shrink and change", () => {
    // A pool's child slots: -1 where no table hangs, as TablePool keeps them.
    growsAndShrinks(new Int32Array(4 * (SEGMENT_BYTES / 4)).fill(-1), 1, [-1, 0, 3, 511]);
  });

  it("moves a store that holds version 2's compact TLBs to slots in place on its next write, and reads it back exactly", () => {
    const host = new HostMemory(16 * GiB);
    host.createVm("pinned", GiB, { vcpus: 2, threads: [0, 1] });
    host.createVm("own", GiB, { vcpus: 2 });
    const touchAll = (h: HostMemory, from: number) => {
      for (let p = from; p < from + 30; p++) {
        h.touch("pinned", 1, 0x7f00_0000_0000 + p * 7919 * PAGE_4K, p % 3 === 0, p % 2);
        h.touch("own", 2, 0x7f00_0000_0000 + p * 4099 * PAGE_4K, p % 4 === 0, p % 2);
      }
    };
    touchAll(host, 0);
    // What the schema's segment step writes for a host that stored version 2: its pieces as they were.
    const s = new PieceStore();
    const { vms, ...frames } = asVersion2(host.snapshot());
    s.save("frames", frames);
    for (const { vmId, vm } of vms) s.save(`vm:${vmId}`, { vmId, vm });
    const back = HostMemory.restore(s.load());
    expect(snapshotOf(back)).toEqual(snapshotOf(host));
    touchAll(host, 30);
    touchAll(back, 30);
    store(s, back, ["pinned", "own"]);
    const fields = [...s.pieces.values()].flatMap((p) => [...p.segments.keys()]);
    expect(fields.filter((f) => /[Tt]lbs\.\d+(\.tlb)?\.slot$/.test(f))).toEqual([]);
    expect(fields).toContain("threadTlbs.0.tlb.entries");
    expect(fields).toContain("vm.tlbs.1.entries");
    expect(snapshotOf(HostMemory.restore(s.load()))).toEqual(snapshotOf(host));
  });

  it("rewrites the slots a TLB fill wrote, not the whole TLB, however full it is", () => {
    const host = new HostMemory(64 * GiB);
    // Pinned vCPUs: the TLBs are the threads', stored in the host piece.
    host.createVm("vm", 32 * GiB, { vcpus: 2, threads: [0, 1] });
    const s = new PieceStore();
    store(s, host, ["vm"]);
    let next = 0;
    const newPage = () => 0x7f00_0000_0000 + ((next++ * 7919 * PAGE_4K) % (16 * GiB));
    /** Fills the thread's TLB with `n` pages, then stores one more translation there and says what it wrote. */
    const fillThenOne = (vcpu: number, n: number) => {
      for (let i = 0; i < n; i++) host.touch("vm", 1, newPage(), false, vcpu);
      store(s, host, ["vm"]);
      host.touch("vm", 1, newPage(), false, vcpu);
      const w = s.save("frames", host.imageFrames());
      const tlb = w.segments.filter((x) => x.field.startsWith(`threadTlbs.${vcpu}.`));
      return { json: w.json, tlb: tlb.reduce((n, x) => n + x.data.byteLength, 0), rows: tlb.length };
    };
    const sparse = fillThenOne(0, 3);
    const full = fillThenOne(1, 4000);
    expect(host.vm("vm").tlbs[1].entries()).toBeGreaterThan(1500);
    // A slot in each level and the sets' fill pointers: the same few rows, nearly empty or full,
    // and a piece whose JSON says nothing of what the TLB holds.
    for (const c of [sparse, full]) {
      expect(c.json).toBeNull();
      expect(c.rows).toBeLessThanOrEqual(3);
      expect(c.tlb).toBeLessThan(2 * SEGMENT_BYTES + 1024);
    }
  });

  it("writes a few segments for a new page whether the guest touched 100 pages or 10,000", () => {
    const host = new HostMemory(128 * GiB);
    host.createVm("vm", 64 * GiB, { vcpus: 16 });
    const s = new PieceStore();
    let x = 7;
    const nextGva = () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return 0x7f00_0000_0000 + Math.floor(((x >>> 0) / 2 ** 32) * 16 * MiB) * PAGE_4K;
    };
    const touched = (n: number) => {
      for (let i = 0; i < n; i++) host.touch("vm", 1, nextGva(), true, i % 16);
      store(s, host, ["vm"]);
      const before = s.bytesWritten;
      for (let i = 0; i < 50; i++) {
        host.touch("vm", 1, nextGva(), true, i % 16);
        store(s, host, ["vm"]);
      }
      return (s.bytesWritten - before) / 50;
    };
    const small = touched(100);
    const large = touched(10_000);
    expect(host.vmSummary("vm").pageTableBytes.guest).toBeGreaterThan(30 * MiB);
    // A new page writes its table entries, the tables it needed, the frame maps, one TLB and
    // the counters: the same handful of segments at any working-set size.
    expect(large).toBeLessThan(small * 1.25);
    expect(large).toBeLessThan(16 * SEGMENT_BYTES);
  });
});
