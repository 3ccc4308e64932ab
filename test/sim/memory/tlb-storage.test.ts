import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_TLB, HostMemory, PAGE_4K } from "../../../src/sim/memory/index";
import { Tlb, tlbContext } from "../../../src/sim/memory/tlb";

const GiB = 1024 ** 3;
const USER = 0x400000;
/** Every array of the default geometry, three numbers of eight bytes a slot. */
const STORAGE_BYTES =
  (DEFAULT_TLB["4k"].entries +
    DEFAULT_TLB["2m"].entries +
    DEFAULT_TLB["1g"].entries +
    DEFAULT_TLB.stlb.entries +
    DEFAULT_TLB.stlb1g.entries) *
  3 *
  8;

describe("a thread's TLB storage", () => {
  it("is made when a vCPU first runs on the thread, not when a VM is placed there", () => {
    const host = new HostMemory(8 * GiB);
    host.createVm("vm", GiB, { vcpus: 2, threads: [0, 1] });
    const vm = host.vm("vm");
    expect(vm.tlbs.map((t) => t.storageBytes)).toEqual([0, 0]);
    host.touch("vm", 1, USER, true, 0);
    expect(vm.tlbs.map((t) => t.storageBytes)).toEqual([STORAGE_BYTES, 0]);
    // The entry it cached serves the vCPU, as before.
    expect(host.translate("vm", 1, USER, 0).tlbHit).toBe(true);
    expect(host.translate("vm", 1, USER, 1).tlbHit).toBe(false);
    expect(vm.tlbs[1].storageBytes).toBe(STORAGE_BYTES);
  });

  it("is given back when the last VM on the thread stops, and kept while another VM's entries remain", () => {
    const host = new HostMemory(8 * GiB);
    host.createVm("a", GiB, { vcpus: 1, threads: [4] });
    host.createVm("b", GiB, { vcpus: 1, threads: [4] });
    host.touch("a", 1, USER, true);
    host.touch("b", 1, USER, true);
    const tlb = host.vm("b").tlbs[0];
    host.destroyVm("a");
    // b's entries carry its VPID and wait for it on the thread.
    expect(tlb.storageBytes).toBe(STORAGE_BYTES);
    expect(host.translate("b", 1, USER).tlbHit).toBe(true);
    host.destroyVm("b");
    expect(tlb.storageBytes).toBe(0);
    host.createVm("c", GiB, { vcpus: 1, threads: [4] });
    const t = host.translate("c", 1, USER);
    expect(t.tlbHit).toBe(false);
    expect(tlb.storageBytes).toBe(STORAGE_BYTES);
  });

  it("is stored as an empty TLB before any vCPU ran, and restored without storage", () => {
    const host = new HostMemory(8 * GiB);
    host.createVm("vm", GiB, { vcpus: 2, threads: [0, 1] });
    host.touch("vm", 1, USER, false, 0);
    const restored = HostMemory.restore(host.snapshot());
    const vm = restored.vm("vm");
    expect(vm.tlbs.map((t) => t.storageBytes)).toEqual([STORAGE_BYTES, 0]);
    expect(restored.snapshot()).toEqual(host.snapshot());
    expect(restored.translate("vm", 1, USER, 0).tlbHit).toBe(true);
  });

  it("caches and evicts exactly as a TLB that kept its storage, however often it gives it back", () => {
    const ctx = fc.constantFrom(tlbContext(1, 0), tlbContext(1, 1), tlbContext(2, 0));
    const page = fc.integer({ min: 0, max: 63 });
    // A small geometry, so that sets fill and FIFO replacement decides which entries stay.
    const small = {
      "4k": { entries: 4, ways: 2 },
      "2m": { entries: 2, ways: 2 },
      "1g": { entries: 2, ways: 2 },
      stlb: { entries: 8, ways: 2 },
      stlb1g: { entries: 2, ways: 2 },
    };
    const op = fc.oneof(
      fc.record({ kind: fc.constant("fill" as const), page, ctx, global: fc.boolean() }),
      fc.record({ kind: fc.constant("lookup" as const), page, ctx }),
      fc.record({ kind: fc.constant("invlpg" as const), page, ctx }),
      fc.record({ kind: fc.constant("flushContext" as const), ctx }),
      fc.record({ kind: fc.constant("flushVpid" as const), vpid: fc.constantFrom(1, 2) }),
      fc.record({ kind: fc.constant("flushAll" as const) }),
    );
    let released = 0;
    fc.assert(
      fc.property(fc.array(op, { minLength: 20, maxLength: 400 }), (ops) => {
        const kept = new Tlb(small);
        kept.allocate();
        const lazy = new Tlb(small);
        const gva = (p: number) => 0x10000000 + p * PAGE_4K;
        for (const o of ops) {
          if (o.kind === "fill") {
            for (const t of [kept, lazy])
              t.insert(gva(o.page), o.ctx, PAGE_4K, o.page * PAGE_4K, true, true, o.global);
          } else if (o.kind === "lookup") {
            expect(lazy.lookup(gva(o.page), o.ctx, false)).toBe(kept.lookup(gva(o.page), o.ctx, false));
          } else if (o.kind === "invlpg") {
            expect(lazy.invalidatePage(gva(o.page), o.ctx)).toBe(kept.invalidatePage(gva(o.page), o.ctx));
          } else if (o.kind === "flushContext") {
            expect(lazy.flushContext(o.ctx)).toBe(kept.flushContext(o.ctx));
          } else if (o.kind === "flushVpid") {
            expect(lazy.flushVpid(o.vpid)).toBe(kept.flushVpid(o.vpid));
          } else expect(lazy.flushAll()).toBe(kept.flushAll());
          if (lazy.release()) released++;
          expect(lazy.entries()).toBe(kept.entries());
        }
        // Every page, after all of it: the two hold the same translations.
        for (let p = 0; p < 64; p++)
          for (const c of [tlbContext(1, 0), tlbContext(1, 1), tlbContext(2, 0)])
            expect(lazy.lookup(gva(p), c, false)).toBe(kept.lookup(gva(p), c, false));
      }),
      { numRuns: 60 },
    );
    // The flushes emptied it often enough that it gave its storage back and made it again.
    expect(released).toBeGreaterThan(20);
  });
});
