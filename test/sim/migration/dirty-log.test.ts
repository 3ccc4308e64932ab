import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Rng } from "../../../src/sim/cpu/rng";
import { DirtyLog, GuestWriter } from "../../../src/sim/migration";

describe("the dirty log", () => {
  it("agrees with a set of page numbers under any marks, clears and syncs", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.array(fc.tuple(fc.constantFrom("mark", "clear", "sync", "all"), fc.nat()), { maxLength: 200 }),
        (pages, ops) => {
          const log = new DirtyLog(pages);
          const ref = new Set<number>();
          for (const [op, n] of ops) {
            const pfn = n % pages;
            if (op === "mark") {
              expect(log.mark(pfn)).toBe(!ref.has(pfn));
              ref.add(pfn);
            } else if (op === "clear") expect(log.clear(pfn)).toBe(ref.delete(pfn));
            else if (op === "sync") {
              expect(log.fetchAndClear()).toBe(ref.size);
              ref.clear();
            } else {
              log.markAll();
              for (let i = 0; i < pages; i++) ref.add(i);
            }
            expect(log.count).toBe(ref.size);
          }
          const sorted = [...ref].sort((a, b) => a - b);
          let at = 0;
          for (const want of sorted) {
            const got = log.nextMarked(at);
            expect(got).toBe(want);
            at = got + 1;
          }
          expect(log.nextMarked(at)).toBe(-1);
        },
      ),
    );
  });
});

describe("marking pages at random", () => {
  it("keeps what was marked, counts what it adds, and marks about p of the range, on either side of one half", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2000 }),
        fc.nat(),
        fc.nat(),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        fc.array(fc.nat(), { maxLength: 50 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.boolean(),
        (pages, a, b, p, before, seed, words) => {
          const log = new DirtyLog(pages);
          for (const x of before) log.mark(x % pages);
          const kept = [...Array(pages).keys()].filter((i) => log.has(i));
          const start = a % pages;
          const len = b % (pages - start + 1);
          const rng = new Rng(seed);
          log.markRandom(start, len, p, () => rng.next(), words ? () => rng.nextU32() : undefined);
          for (const i of kept) expect(log.has(i)).toBe(true);
          let n = 0;
          for (let i = 0; i < pages; i++)
            if (log.has(i)) {
              n++;
              if (!kept.includes(i)) expect(i >= start && i < start + len).toBe(true);
            }
          expect(log.count).toBe(n);
        },
      ),
    );
    for (const p of [0.02, 0.3, 0.9, 0.97])
      for (const words of [false, true]) {
        const log = new DirtyLog(100_000);
        const rng = new Rng(3);
        log.markRandom(0, 100_000, p, () => rng.next(), words ? () => rng.nextU32() : undefined);
        expect(Math.abs(log.count / 100_000 - p)).toBeLessThan(0.01);
      }
  });
});

describe("the guest's writes", () => {
  it("dirty 1 - e^(-n/W) of the working set after n uniform writes, as the sampler promises", () => {
    const pages = 1 << 18;
    const w = new GuestWriter(
      pages * 4096,
      { hotBytes: pages * 1024, hotWritesPerSec: 65536, coldWritesPerSec: 0 },
      5,
    );
    for (const seconds of [0.25, 1, 3]) {
      const log = new DirtyLog(pages);
      w.dirty(log, seconds, 0);
      const expected = w.hotPages * -Math.expm1((-65536 * seconds) / w.hotPages);
      expect(Math.abs(log.count - expected) / expected).toBeLessThan(0.02);
      // Only the working set was written.
      expect(log.nextMarked(0)).toBeGreaterThanOrEqual(w.hotStart);
    }
  });

  it("writes less the more the vCPUs are throttled", () => {
    const pages = 1 << 16;
    const spec = { hotBytes: pages * 4096, hotWritesPerSec: 10_000, coldWritesPerSec: 0 };
    const free = new DirtyLog(pages);
    const slowed = new DirtyLog(pages);
    new GuestWriter(pages * 4096, spec, 1).dirty(free, 1, 0);
    new GuestWriter(pages * 4096, spec, 1).dirty(slowed, 1, 0.8);
    expect(slowed.count).toBeLessThan(free.count * 0.3);
  });
});
