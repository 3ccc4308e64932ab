import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fitsOn, type PlacementRequest, rankHosts } from "../../../src/sim/placement";
import {
  assignPartitions,
  type GroupMember,
  type GroupSpec,
  MAX_SPREAD_INSTANCES_PER_ZONE,
  planGroupOffers,
  type RackedCandidate,
} from "../../../src/sim/placement-groups";

const REQ: PlacementRequest = { family: "m5", vcpus: 2, memoryMiB: 8192, nvmeGB: 0 };

const arbHosts = fc
  .array(
    fc.record({
      zone: fc.constantFrom("us-east-1a", "us-east-1b"),
      rack: fc.integer({ min: 1, max: 10 }),
      slots: fc.integer({ min: 0, max: 4 }),
    }),
    { minLength: 1, maxLength: 24 },
  )
  .map((hs) =>
    hs.map(
      (h, i): RackedCandidate => ({
        id: `h-${String(i).padStart(3, "0")}`,
        zone: h.zone,
        rack: `${h.zone}-rack-${h.rack}`,
        family: "m5",
        state: "available",
        freeVcpus: h.slots * REQ.vcpus,
        freeMemoryMiB: h.slots * REQ.memoryMiB,
        freeNvmeGB: 0,
      }),
    ),
  );

/** A launch: how many, in which zone (or any), and for a partition group the partition asked for. */
const arbLaunch = fc.record({
  count: fc.integer({ min: 1, max: 8 }),
  zone: fc.option(fc.constantFrom("us-east-1a", "us-east-1b"), { nil: undefined }),
  partition: fc.option(fc.integer({ min: 1, max: 7 }), { nil: null }),
  /** Hosts lose races: each admits this share of what it is offered, rounded down (1 = all). */
  admitShare: fc.constantFrom(1, 1, 0.5),
});

type Launch = { count: number; zone: string | undefined; partition: number | null; admitShare: number };

/**
 * Places launches one after another as the fleet does: rounds of offers over the hosts that
 * are not full, each host admitting up to what fits (or fewer, as if it lost a race).
 */
function run(spec: GroupSpec, hosts: RackedCandidate[], launches: Launch[]) {
  const members: (GroupMember & { hostId: string; instanceId: string })[] = [];
  let n = 0;
  for (const l of launches) {
    const parts =
      spec.strategy === "partition"
        ? l.partition !== null && l.partition <= spec.partitionCount!
          ? Array(l.count).fill(l.partition)
          : assignPartitions(l.count, spec.partitionCount!, members)
        : Array(l.count).fill(null);
    let remaining = parts.map((partition) => ({ instanceId: `i-${n++}`, partition }));
    const full = new Set<string>();
    for (let round = 0; round < 10 && remaining.length > 0; round++) {
      const open = hosts.filter((h) => !full.has(h.id));
      const ranked = rankHosts(open, { ...REQ, zone: l.zone }, "spread") as RackedCandidate[];
      const offers = planGroupOffers(spec, members, ranked, remaining, { ...REQ, zone: l.zone });
      if (offers.length === 0) break;
      for (const o of offers) {
        const h = hosts.find((x) => x.id === o.hostId)!;
        if (l.zone !== undefined) expect(h.zone).toBe(l.zone);
        const admitted = o.instanceIds.slice(
          0,
          Math.floor(Math.min(o.instanceIds.length, fitsOn(h, REQ)) * l.admitShare),
        );
        if (admitted.length < o.instanceIds.length) full.add(h.id);
        for (const id of admitted) {
          const inst = remaining.find((r) => r.instanceId === id)!;
          members.push({
            zone: h.zone,
            rack: h.rack,
            partition: inst.partition,
            hostId: h.id,
            instanceId: id,
          });
          h.freeVcpus -= REQ.vcpus;
          h.freeMemoryMiB -= REQ.memoryMiB;
        }
        remaining = remaining.filter((r) => !admitted.includes(r.instanceId));
      }
    }
  }
  return members;
}

describe("placement groups", () => {
  it("spread: no two instances of the group ever share a rack, and no zone holds more than 7", () => {
    fc.assert(
      fc.property(arbHosts, fc.array(arbLaunch, { maxLength: 6 }), (hosts, launches) => {
        const members = run({ name: "s", strategy: "spread", partitionCount: null }, hosts, launches);
        const racks = members.map((m) => `${m.zone}/${m.rack}`);
        expect(new Set(racks).size).toBe(racks.length);
        for (const zone of ["us-east-1a", "us-east-1b"]) {
          expect(members.filter((m) => m.zone === zone).length).toBeLessThanOrEqual(
            MAX_SPREAD_INSTANCES_PER_ZONE,
          );
        }
        // Where a rack had room and the zone had slots, a launch did not stop short: every rack
        // that still has room is in a zone already at its limit, or already holds a member.
        const open = hosts.filter((h) => fitsOn(h, REQ) > 0);
        const asked = launches.reduce((n, l) => n + l.count, 0);
        if (members.length < asked && launches.every((l) => l.zone === undefined && l.admitShare === 1)) {
          for (const h of open) {
            const inZone = members.filter((m) => m.zone === h.zone).length;
            expect(racks.includes(`${h.zone}/${h.rack}`) || inZone === MAX_SPREAD_INSTANCES_PER_ZONE).toBe(
              true,
            );
          }
        }
      }),
    );
  });

  it("partition: instances of different partitions never share a rack", () => {
    fc.assert(
      fc.property(
        arbHosts,
        fc.integer({ min: 1, max: 7 }),
        fc.array(arbLaunch, { maxLength: 6 }),
        (hosts, count, launches) => {
          const members = run({ name: "p", strategy: "partition", partitionCount: count }, hosts, launches);
          const owner = new Map<string, number>();
          for (const m of members) {
            expect(m.partition).not.toBeNull();
            expect(m.partition!).toBeGreaterThanOrEqual(1);
            expect(m.partition!).toBeLessThanOrEqual(count);
            const key = `${m.zone}/${m.rack}`;
            if (owner.has(key)) expect(owner.get(key)).toBe(m.partition);
            owner.set(key, m.partition!);
          }
        },
      ),
    );
  });

  it("cluster: every instance of the group lands on one rack", () => {
    fc.assert(
      fc.property(arbHosts, fc.array(arbLaunch, { maxLength: 6 }), (hosts, launches) => {
        const members = run({ name: "c", strategy: "cluster", partitionCount: null }, hosts, launches);
        expect(new Set(members.map((m) => `${m.zone}/${m.rack}`)).size).toBeLessThanOrEqual(1);
        // A first launch goes to the rack with the most room, so it is placed whole whenever one rack holds it.
        const first = launches[0];
        if (first && first.zone === undefined && first.admitShare === 1) {
          const fresh = hosts.map((h) => ({ ...h }));
          const byRack = new Map<string, number>();
          for (const h of fresh)
            byRack.set(`${h.zone}/${h.rack}`, (byRack.get(`${h.zone}/${h.rack}`) ?? 0) + fitsOn(h, REQ));
          const placed = run({ name: "c", strategy: "cluster", partitionCount: null }, fresh, [first]);
          expect(placed.length).toBe(Math.min(first.count, Math.max(...byRack.values())));
        }
      }),
    );
  });

  it("cluster: a first launch takes the rack with the most room, and a later one follows the members", () => {
    const host = (id: string, rack: string, slots: number): RackedCandidate => ({
      id,
      zone: "us-east-1a",
      rack,
      family: "m5",
      state: "available",
      freeVcpus: slots * 2,
      freeMemoryMiB: slots * 8192,
      freeNvmeGB: 0,
    });
    const hosts = [host("h-1", "r1", 2), host("h-2", "r2", 2), host("h-3", "r2", 2)];
    const four = [0, 1, 2, 3].map((i) => ({ instanceId: `i-${i}`, partition: null }));
    const spec: GroupSpec = { name: "c", strategy: "cluster", partitionCount: null };
    const first = planGroupOffers(spec, [], hosts, four, REQ);
    expect(first.map((o) => o.hostId).sort()).toEqual(["h-2", "h-3"]);
    // Members on r1 hold the group there, though r2 has more room: the launch gets what r1 has.
    const later = planGroupOffers(
      spec,
      [{ zone: "us-east-1a", rack: "r1", partition: null }],
      hosts,
      four,
      REQ,
    );
    expect(later).toEqual([{ hostId: "h-1", instanceIds: ["i-0", "i-1"] }]);
  });

  it("spreads instances launched without a partition evenly over the partitions", () => {
    const members: GroupMember[] = [
      { zone: "z", rack: "r1", partition: 1 },
      { zone: "z", rack: "r1", partition: 1 },
      { zone: "z", rack: "r2", partition: 2 },
    ];
    expect(assignPartitions(4, 3, members)).toEqual([3, 2, 3, 1]);
  });
});
