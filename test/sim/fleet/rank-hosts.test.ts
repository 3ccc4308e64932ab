import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  filterHosts,
  type HostCandidate,
  type PlacementStrategy,
  rankHosts,
} from "../../../src/sim/placement";

/** Nova's weighing written out plainly: each weigher normalized over the survivors, summed, best first, ties by id. */
function reference(
  hosts: HostCandidate[],
  strategy: PlacementStrategy,
  req: Parameters<typeof rankHosts>[1],
) {
  const survivors = filterHosts(hosts, req);
  const sign = strategy === "spread" ? 1 : -1;
  const scores = [(h: HostCandidate) => h.freeMemoryMiB, (h: HostCandidate) => h.freeVcpus];
  const weight = new Map<string, number>();
  for (const score of scores) {
    const raw = survivors.map(score);
    const lo = Math.min(...raw);
    const hi = Math.max(...raw);
    survivors.forEach((h, i) => {
      weight.set(h.id, (weight.get(h.id) ?? 0) + sign * (hi === lo ? 0 : (raw[i] - lo) / (hi - lo)));
    });
  }
  return survivors.sort((a, b) => weight.get(b.id)! - weight.get(a.id)! || (a.id < b.id ? -1 : 1));
}

describe("ranking hosts", () => {
  it("orders as Nova's weighers do, best first and ties by id, for either strategy", () => {
    const host = fc.record({
      id: fc.string({ minLength: 1, maxLength: 4 }),
      zone: fc.constantFrom("a", "b"),
      family: fc.constant("m5"),
      state: fc.constantFrom("available", "maintenance"),
      freeVcpus: fc.integer({ min: 0, max: 96 }),
      freeMemoryMiB: fc.integer({ min: 0, max: 400_000 }),
      freeNvmeGB: fc.integer({ min: 0, max: 100 }),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(host, { selector: (h) => h.id, maxLength: 60 }),
        fc.constantFrom<PlacementStrategy>("binpack", "spread"),
        fc.constantFrom(undefined, "a"),
        (hosts, strategy, zone) => {
          const req = { family: "m5", zone, vcpus: 4, memoryMiB: 16_384, nvmeGB: 0 };
          const ids = (hs: HostCandidate[]) => hs.map((h) => h.id);
          expect(ids(rankHosts(hosts, req, strategy))).toEqual(ids(reference([...hosts], strategy, req)));
        },
      ),
    );
  });
});
