import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  HostMemory,
  PAGE_1G,
  PAGE_2M,
  PAGE_4K,
  type PageSize,
  type Translation,
} from "../../../src/sim/memory/index";

const GiB = 1024 ** 3;

/**
 * The walk's definition (Bhargava et al., ASPLOS 2008): each guest level is one read of a
 * guest entry whose GPA first needs a full nested walk, and the final GPA needs one more.
 * Leaves at level 2 or 3 end a walk early, in either dimension.
 */
function expectedReferences(
  guestLevels: number,
  eptLevels: number,
  guestLeaf: PageSize,
  eptLeaf: PageSize,
): number {
  const levelsSkipped = (leaf: PageSize) => (leaf === PAGE_4K ? 0 : leaf === PAGE_2M ? 1 : 2);
  const n = guestLevels - levelsSkipped(guestLeaf);
  const m = eptLevels - levelsSkipped(eptLeaf);
  let refs = 0;
  for (let level = 0; level < n; level++) refs += m + 1;
  return refs + m;
}

function coldWalk(opts: {
  guestLevels?: 4 | 5;
  eptLevels?: 4 | 5;
  guestPageSize: PageSize;
  eptPageSize: PageSize;
}): Translation {
  const host = new HostMemory(16 * GiB);
  host.createVm("vm", 4 * GiB, opts);
  const gva = 3 * GiB + 5 * PAGE_2M + 7 * PAGE_4K + 123;
  host.touch("vm", 1, gva, true);
  // Empty the TLB so the next translation has to walk.
  host.vm("vm").invvpid();
  return host.translate("vm", 1, gva);
}

describe("the two-dimensional walk", () => {
  it.each([
    [4, 4, PAGE_4K, PAGE_4K, 24],
    [4, 4, PAGE_4K, PAGE_2M, 19],
    [4, 4, PAGE_2M, PAGE_2M, 15],
    [5, 5, PAGE_4K, PAGE_4K, 35],
    [4, 4, PAGE_1G, PAGE_1G, 8],
    [5, 4, PAGE_4K, PAGE_4K, 29],
  ] as const)(
    "a %i-level guest on a %i-level EPT with %i/%i-byte leaves makes the references its definition implies",
    (n, m, guestLeaf, eptLeaf, literature) => {
      const t = coldWalk({ guestLevels: n, eptLevels: m, guestPageSize: guestLeaf, eptPageSize: eptLeaf });
      const derived = expectedReferences(n, m, guestLeaf, eptLeaf);
      expect(derived).toBe(literature);
      expect(t.tlbHit).toBe(false);
      expect(t.fault).toBeNull();
      expect(t.memoryReferences).toBe(derived);
      // The references are numbered 1..N in the order the walk made them.
      const numbers = t.guest.flatMap((g) => [...g.ept!.references.map((r) => r.n), g.reference?.n ?? -1]);
      numbers.push(...(t.finalEpt?.references.map((r) => r.n) ?? []));
      expect(numbers).toEqual(Array.from({ length: derived }, (_, i) => i + 1));
    },
  );

  it("reads each guest entry at the host address its own nested walk produced", () => {
    const t = coldWalk({ guestPageSize: PAGE_4K, eptPageSize: PAGE_4K });
    expect(t.guest).toHaveLength(4);
    for (const step of t.guest) {
      expect(step.ept!.gpa).toBe(step.entryGpa);
      expect(step.reference?.hpa).toBe(step.ept!.hpa);
      expect(step.flags?.present).toBe(true);
      expect(step.flags?.accessed).toBe(true);
    }
    // Each level's entry points at the next level's table.
    for (let i = 0; i + 1 < t.guest.length; i++) {
      const entry = t.guest[i].entry as number;
      expect(entry - (entry % PAGE_4K)).toBe(t.guest[i + 1].tableGpa);
    }
    expect(t.finalEpt?.gpa).toBe(t.gpa);
    expect(t.finalEpt?.hpa).toBe(t.hpa);
  });

  it("answers from the TLB with no memory references once the walk has filled it", () => {
    const host = new HostMemory(16 * GiB);
    host.createVm("vm", 4 * GiB);
    host.touch("vm", 1, 0x1234567, false);
    const t = host.translate("vm", 1, 0x1234567);
    expect(t.tlbHit).toBe(true);
    expect(t.memoryReferences).toBe(0);
    expect(t.hpa).toBe(host.touch("vm", 1, 0x1234567, false).hpa);
  });

  it("shortens walks with the nested TLB and paging-structure caches when they are enabled", () => {
    const host = new HostMemory(16 * GiB);
    host.createVm("vm", 4 * GiB, { eptPageSize: PAGE_4K, pageWalkCache: { guest: 32, nested: 64 } });
    host.touch("vm", 1, 0x10000000, true);
    host.touch("vm", 1, 0x10001000, true);
    host.vm("vm").tlbs[0].flushAll();
    const warm = host.translate("vm", 1, 0x10001000);
    // The PDE cache skips three guest levels and the nested TLB the walk for the last table.
    expect(warm.pwcStartLevel).toBe(1);
    expect(warm.guest[0].ept!.cached).toBe(true);
    expect(warm.memoryReferences).toBe(1 + 4);
    expect(host.vmSummary("vm").walks.pwcHits).toBeGreaterThan(0);
  });

  it("keeps the trace in step with the hardware when a walk evicts its own nested-TLB entries", () => {
    const host = new HostMemory(16 * GiB);
    // One nested-TLB entry per vCPU: after a walk it holds the last guest table, the PT.
    host.createVm("vm", 4 * GiB, { eptPageSize: PAGE_4K, pageWalkCache: { guest: 0, nested: 1 } });
    host.touch("vm", 1, 0x10000000, true);
    host.touch("vm", 1, 0x10001000, true);
    host.vm("vm").tlbs[0].flushAll();
    // The next walk fills the entry with the PML4's translation first, so by the time it
    // reaches the PT, the entry that held it is gone and the PT needs a full nested walk.
    const t = host.translate("vm", 1, 0x10001000);
    expect(t.guest.map((g) => g.ept!.cached)).toEqual([false, false, false, false]);
    expect(t.memoryReferences).toBe(expectedReferences(4, 4, PAGE_4K, PAGE_4K));
  });

  it("traces the same walk as the hardware whatever the sizes of the page-walk caches", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(0, 1, 2, 8),
        fc.constantFrom(1, 2, 4, 64),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 1023 }), fc.boolean()), {
          minLength: 10,
          maxLength: 60,
        }),
        (guest, nested, accesses) => {
          const host = new HostMemory(16 * GiB);
          host.createVm("vm", 4 * GiB, { eptPageSize: PAGE_4K, pageWalkCache: { guest, nested } });
          for (const [asid, page, flush] of accesses) {
            // Pages 4 MiB apart use different leaf tables, whose nested entries can collide.
            const gva = 0x10000000 + page * 1025 * PAGE_4K;
            const hpa = host.touch("vm", asid, gva, false).hpa;
            if (flush) host.vm("vm").tlbs[0].flushAll();
            expect(host.translate("vm", asid, gva).hpa).toBe(hpa);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it("reports a guest page fault for an unmapped address without mapping it", () => {
    const host = new HostMemory(16 * GiB);
    host.createVm("vm", 4 * GiB);
    host.touch("vm", 1, 0x400000, false);
    const t = host.translate("vm", 1, 0x7f0000000000);
    expect(t.fault).toBe("guest_page_fault");
    expect(t.hpa).toBeNull();
    expect(host.translate("vm", 1, 0x7f0000000000).fault).toBe("guest_page_fault");
  });

  it("rejects non-canonical addresses and accepts the upper half as a bigint", () => {
    const host = new HostMemory(16 * GiB);
    host.createVm("vm", 4 * GiB);
    expect(() => host.translate("vm", 1, 2 ** 47)).toThrow(RangeError);
    const kernel = 0xffff800000001000n;
    const r = host.touch("vm", 0, kernel, true);
    expect(r.hpa).not.toBeNull();
    expect(host.translate("vm", 0, kernel).hpa).toBe(r.hpa);
  });
});

/**
 * HPC Challenge RandomAccess (GUPS): read-modify-write updates at random over a table sized to the
 * largest power of two within half the memory. Here the guest has 128 GiB (an r5.4xlarge), so the
 * table is 64 GiB: a memory-bound working set far beyond the TLBs' reach (1,536 × 4 KiB). A random
 * sample of its pages is mapped first, then updated in turn, and the walks are counted.
 */
function gups(pageWalkCache: { guest: number; nested: number }) {
  const tableBytes = 64 * GiB;
  const host = new HostMemory(256 * GiB);
  host.createVm("vm", 128 * GiB, { vcpus: 1, pageWalkCache });
  const vm = host.vm("vm");
  let x = 0x2545f491;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  const table = 0x100000000000;
  const updates = Array.from(
    { length: 20_000 },
    () => table + Math.floor(next() * (tableBytes / PAGE_4K)) * PAGE_4K,
  );
  for (const gva of updates) host.touch("vm", 1, gva, true);
  const walks = vm.counters[0];
  const refs = vm.counters[1];
  for (let round = 0; round < 2; round++) for (const gva of updates) vm.access(0, 1, gva, true);
  const summary = host.vmSummary("vm").walks;
  return {
    accesses: 2 * updates.length,
    walks: summary.count - walks,
    references: summary.memoryReferences - refs,
    tableRegions: { "1g": tableBytes / PAGE_1G, "2m": tableBytes / PAGE_2M },
  };
}

describe("paging-structure caches under a memory-bound guest", () => {
  it("cut the references of its walks within the 15–38% gain Bhargava et al. measured, counted walk by walk", () => {
    const sets = 32;
    const off = gups({ guest: 0, nested: 0 });
    const on = gups({ guest: sets, nested: 0 });
    const perWalk = (r: typeof off) => r.references / r.walks;
    // Nearly every update misses the TLBs and walks, with or without the caches.
    expect(off.walks).toBeGreaterThan(0.95 * off.accesses);
    expect(on.walks).toBe(off.walks);
    // Without caches every walk is the whole two-dimensional walk: 4-level guest with 4 KiB pages on
    // the default 2 MiB EPT leaves.
    expect(perWalk(off)).toBe(expectedReferences(4, 4, PAGE_4K, PAGE_2M));
    // With them, each guest level a cached entry skips saves its read and the nested walk before it,
    // m + 1 references. One PML4 entry covers the table, so that cache always hits; a direct-mapped
    // cache of `sets` entries holds a region with probability sets / regions when that is below 1.
    const m = 3;
    const p = (regions: number) => Math.min(1, sets / regions);
    const expected = perWalk(off) - (m + 1) * (1 + p(on.tableRegions["1g"]) + p(on.tableRegions["2m"]));
    expect(perWalk(on)).toBeCloseTo(expected, 1);
    // Bhargava et al., ASPLOS 2008: caching the two-dimensional walk improved guest performance 15–38%.
    // They timed runs; here every reference counts alike, so the figure follows the table's size
    // against the caches' reach (a table within 32 GiB keeps every PDPTE cached: 42%).
    const reduction = 1 - perWalk(on) / perWalk(off);
    expect(reduction).toBeGreaterThanOrEqual(0.15);
    expect(reduction).toBeLessThanOrEqual(0.38);
    // Counting the update's own reference too, the memory references per update fall as much.
    const perUpdate = (r: typeof off) => (r.accesses + r.references) / r.accesses;
    expect(1 - perUpdate(on) / perUpdate(off)).toBeGreaterThanOrEqual(0.15);
  });
});
