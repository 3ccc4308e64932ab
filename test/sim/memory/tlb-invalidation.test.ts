// INVLPG and INVVPID individual-address on one thread's TLBs, checked slot by slot against the SDM's
// definition (Vol. 3A §4.10.4.1): every entry, of any size and in either level, that translates part of
// the invalidated page for the context goes, global ones of its VPID included; nothing else changes.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PAGE_1G, PAGE_2M, PAGE_4K, type PageSize } from "../../../src/sim/memory/constants";
import type { Tracked } from "../../../src/sim/memory/dirty";
import { DEFAULT_TLB, Tlb, type TlbConfig, tlbContext } from "../../../src/sim/memory/tlb";

/** Numbers per slot in a TlbSnapshot: key (tag + 1), context * 4 + permissions, base. */
const SLOT = 3;
const SIZES: PageSize[] = [PAGE_4K, PAGE_2M, PAGE_1G];

/** The arrays of a snapshot's slots, end to end, with the size of the pages each holds by its tag. */
function layout(config: TlbConfig): Array<{ slots: number; pageOf: (tag: number) => [number, number] }> {
  const plain =
    (size: number) =>
    (tag: number): [number, number] => [tag, size];
  // The STLB tags a 4 KiB page as its number times 2 and a 2 MiB page as its number times 2, plus 1.
  const stlb = (tag: number): [number, number] =>
    tag % 2 === 1 ? [(tag - 1) / 2, PAGE_2M] : [tag / 2, PAGE_4K];
  return [
    { slots: config["4k"].entries, pageOf: plain(PAGE_4K) },
    { slots: config["2m"].entries, pageOf: plain(PAGE_2M) },
    { slots: config["1g"].entries, pageOf: plain(PAGE_1G) },
    { slots: config.stlb.entries, pageOf: stlb },
    { slots: config.stlb1g.entries, pageOf: plain(PAGE_1G) },
  ];
}

/** The slots the definition says an invalidation of [lo, lo + bytes) for ctx empties. */
function expectedDropped(entries: Float64Array, config: TlbConfig, gva: number, ctx: number, bytes: number) {
  const lo = Math.floor(gva / bytes) * bytes;
  const hi = lo + bytes;
  const vpid = Math.floor(ctx / 4096);
  const dropped: number[] = [];
  let slot = 0;
  for (const a of layout(config)) {
    for (let k = 0; k < a.slots; k++, slot++) {
      const key = entries[slot * SLOT];
      if (key === 0) continue;
      const stored = Math.floor(entries[slot * SLOT + 1] / 4);
      // A global entry is stored under -1 - vpid and matches every PCID of that VPID.
      const mine = stored === ctx || stored === -1 - vpid;
      const [pn, size] = a.pageOf(key - 1);
      if (mine && pn * size < hi && (pn + 1) * size > lo) dropped.push(slot);
    }
  }
  return dropped;
}

/** Slots whose numbers differ between two snapshots' entries, ascending. */
function changedSlots(a: Float64Array, b: Float64Array): number[] {
  const out: number[] = [];
  for (let s = 0; s * SLOT < a.length; s++) {
    if (
      a[s * SLOT] !== b[s * SLOT] ||
      a[s * SLOT + 1] !== b[s * SLOT + 1] ||
      a[s * SLOT + 2] !== b[s * SLOT + 2]
    )
      out.push(s);
  }
  return out;
}

const fill = fc.record({
  // Pages near each other and near 1 GiB boundaries, so sets collide and sizes overlap.
  gva: fc.integer({ min: 0, max: 3 * 512 * 8 }).map((p) => p * PAGE_4K + (p % 3) * PAGE_1G),
  size: fc.nat(),
  vpid: fc.integer({ min: 0, max: 2 }),
  pcid: fc.integer({ min: 0, max: 2 }),
  global: fc.boolean(),
  writable: fc.boolean(),
  dirty: fc.boolean(),
});

describe("INVLPG on a thread's TLBs", () => {
  it("empties exactly the entries the SDM's definition names, and marks exactly those slots for a store", () => {
    // A small geometry as well as Skylake's, so a range can cover every set of an array.
    const small: TlbConfig = {
      "4k": { entries: 8, ways: 2 },
      "2m": { entries: 4, ways: 2 },
      "1g": { entries: 2, ways: 2 },
      stlb: { entries: 16, ways: 4 },
      stlb1g: { entries: 4, ways: 2 },
    };
    fc.assert(
      fc.property(
        fc.constantFrom(DEFAULT_TLB, small),
        // Some TLBs hold no 4 KiB page at all, as those of a guest on large pages throughout.
        fc.constantFrom(SIZES, SIZES.slice(1)),
        fc.array(fill, { minLength: 1, maxLength: 200 }),
        fc.array(
          fc.record({
            target: fc.nat(),
            offset: fc.integer({ min: -3, max: 3 }),
            bytes: fc.constantFrom(...SIZES),
            vpid: fc.integer({ min: 0, max: 2 }),
            pcid: fc.integer({ min: 0, max: 2 }),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        (config, sizes, fills, invalidations) => {
          const tlb = new Tlb(config);
          for (const f of fills) {
            const size = sizes[f.size % sizes.length];
            const base = Math.floor(f.gva / size) * size;
            tlb.insert(
              f.gva,
              tlbContext(f.vpid, f.pcid),
              size,
              base + PAGE_1G,
              f.writable,
              f.dirty,
              f.global,
            );
          }
          for (const inv of invalidations) {
            // Aim at a filled page, or a few pages beside one.
            const gva = Math.max(0, fills[inv.target % fills.length].gva + inv.offset * PAGE_4K);
            const ctx = tlbContext(inv.vpid, inv.pcid);
            // A TLB restored from its own snapshot has no marks: those after the call are the call's.
            const before = tlb.snapshot();
            const fresh = new Tlb(config);
            fresh.load(before);
            const want = expectedDropped(before.entries, config, gva, ctx, inv.bytes);
            expect(fresh.invalidatePage(gva, ctx, inv.bytes)).toBe(want.length);
            const after = fresh.snapshot();
            // The slots that changed are the dropped ones, now empty.
            expect(changedSlots(before.entries, after.entries)).toEqual(want);
            for (const s of want) expect(after.entries[s * SLOT]).toBe(0);
            expect(after.fifo).toEqual(before.fifo);
            expect([...(fresh.image().entries as Tracked).marks.units()].sort((a, b) => a - b)).toEqual(want);
            expect(tlb.invalidatePage(gva, ctx, inv.bytes)).toBe(want.length);
            expect(changedSlots(after.entries, tlb.snapshot().entries)).toEqual([]);
          }
        },
      ),
      { numRuns: 150 },
    );
  }, 60_000);
});
