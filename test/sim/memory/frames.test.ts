import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  FRAMES_1G,
  FRAMES_2M,
  ORDER_1G,
  ORDER_2M,
  ORDER_4K,
  type Order,
} from "../../../src/sim/memory/constants";
import { FrameAllocator, IsolationError } from "../../../src/sim/memory/frames";

const orders: Order[] = [ORDER_4K, ORDER_2M, ORDER_1G];

describe("the host frame allocator", () => {
  it("never hands out a frame twice and frees exactly what it gave, over random sequences", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            alloc: fc.boolean(),
            order: fc.constantFrom(...orders),
            owner: fc.integer({ min: 1, max: 4 }),
            pick: fc.nat(),
          }),
          {
            maxLength: 120,
            size: "max",
          },
        ),
        (ops) => {
          // 2.5 GiB: two whole GiBs and a tail that can only hold 2 MiB and 4 KiB blocks.
          const total = 2 * FRAMES_1G + 256 * FRAMES_2M;
          const a = new FrameAllocator(total);
          // Reference: block start -> [order, owner], checked by brute-force overlap.
          const held: Array<{ frame: number; order: Order; owner: number }> = [];
          for (const op of ops) {
            if (op.alloc || held.length === 0) {
              const frame = a.alloc(op.order, op.owner);
              if (frame < 0) continue;
              const size = 2 ** op.order;
              expect(frame % size).toBe(0);
              expect(frame + size).toBeLessThanOrEqual(total);
              for (const h of held) {
                const overlap = frame < h.frame + 2 ** h.order && h.frame < frame + size;
                expect(overlap).toBe(false);
              }
              held.push({ frame, order: op.order, owner: op.owner });
            } else {
              const [h] = held.splice(op.pick % held.length, 1);
              a.free(h.frame, h.order, h.owner);
            }
            const used = held.reduce((n, h) => n + 2 ** h.order, 0);
            expect(a.freeFrames).toBe(total - used);
          }
          for (const h of held) expect(a.ownerOf(h.frame + 2 ** h.order - 1)).toBe(h.owner);
          // Round-trip through a snapshot keeps every owner.
          const b = FrameAllocator.restore(a.snapshot());
          for (const h of held) expect(b.ownerOf(h.frame)).toBe(h.owner);
          for (const h of held) a.free(h.frame, h.order, h.owner);
          // Everything merged back: both whole GiBs can serve 1 GiB pages again.
          expect(a.freeFrames).toBe(total);
          expect(a.freeHuge().free1G).toBe(2);
          expect(a.fragmentation()).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("refuses to free a block on behalf of an owner that does not hold it", () => {
    const a = new FrameAllocator(FRAMES_1G);
    const f = a.alloc(ORDER_4K, 1);
    expect(() => a.free(f, ORDER_4K, 2)).toThrow(IsolationError);
    expect(() => a.free(f, ORDER_2M, 1)).toThrow(IsolationError);
    expect(a.ownerOf(f)).toBe(1);
  });

  it("keeps whole gigabytes intact by carving small blocks out of already split ones", () => {
    const a = new FrameAllocator(4 * FRAMES_1G);
    for (let i = 0; i < 600; i++) a.alloc(ORDER_4K, 1);
    for (let i = 0; i < 10; i++) a.alloc(ORDER_2M, 2);
    expect(a.freeHuge().free1G).toBe(3);
    expect(a.alloc(ORDER_1G, 3)).toBeGreaterThanOrEqual(0);
  });

  it("reports fragmentation when free frames are scattered across 2 MiB blocks", () => {
    const a = new FrameAllocator(2 * FRAMES_2M);
    const frames = Array.from({ length: 2 * FRAMES_2M }, () => a.alloc(ORDER_4K, 1));
    // Free every other frame: half the memory is free but no 2 MiB block is.
    for (let i = 0; i < frames.length; i += 2) a.free(frames[i], ORDER_4K, 1);
    expect(a.freeFrames).toBe(FRAMES_2M);
    expect(a.freeHuge().free2M).toBe(0);
    expect(a.fragmentation()).toBe(1);
  });
});
