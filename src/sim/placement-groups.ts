// Placement groups, as the EC2 user guide ("Placement strategies", "Placement group rules and
// limitations") describes them, enforced on racks: a cluster group's instances share one rack
// of one zone (they then cross a single top-of-rack switch, and get the cluster's single-flow
// bandwidth, network/path.ts); a partition group gives each partition racks of its own, so
// instances of different partitions never share a rack, with at most 7 partitions per zone; a
// (rack) spread group puts each instance on a rack of its own, at most 7 running instances per
// zone per group. The planner works on what the fleet knows of the group's live members; it
// makes offers, and the host objects still decide admission.
import { fitsOn, type HostCandidate, type PlacementRequest } from "./placement";

export const GROUP_STRATEGIES = ["cluster", "partition", "spread"] as const;
export type GroupStrategy = (typeof GROUP_STRATEGIES)[number];
export const MAX_PARTITIONS_PER_ZONE = 7;
export const MAX_SPREAD_INSTANCES_PER_ZONE = 7;

export interface GroupSpec {
  name: string;
  strategy: GroupStrategy;
  /** For a partition group: how many partitions (1 to 7). */
  partitionCount: number | null;
}

/** A live member of the group: where it runs, and its partition in a partition group. */
export interface GroupMember {
  zone: string;
  rack: string;
  partition: number | null;
}

/** A host the planner may offer to: a candidate with its rack. */
export type RackedCandidate = HostCandidate & { rack: string };

/** An instance to place: its id, and its partition in a partition group. */
export interface GroupInstance {
  instanceId: string;
  partition: number | null;
}

export interface GroupOffer {
  hostId: string;
  instanceIds: string[];
}

const rackKey = (zone: string, rack: string) => `${zone}\u0000${rack}`;

/**
 * Partitions for instances launched without one: each to the partition with the fewest
 * members so far (the lowest number on a tie), as EC2 spreads them evenly.
 */
export function assignPartitions(
  count: number,
  partitionCount: number,
  members: readonly GroupMember[],
): number[] {
  const load = Array.from(
    { length: partitionCount },
    (_, i) => members.filter((m) => m.partition === i + 1).length,
  );
  const out: number[] = [];
  for (let k = 0; k < count; k++) {
    let best = 0;
    for (let p = 1; p < partitionCount; p++) if (load[p] < load[best]) best = p;
    load[best]++;
    out.push(best + 1);
  }
  return out;
}

/**
 * One round's offers for `instances`, over `ranked` hosts (best first, already filtered to those
 * that can take the type), given the group's live `members`. Offers never break the group's rule
 * whatever the hosts then admit; an instance left out of every offer has no room that keeps it.
 */
export function planGroupOffers(
  spec: GroupSpec,
  members: readonly GroupMember[],
  ranked: readonly RackedCandidate[],
  instances: readonly GroupInstance[],
  req: PlacementRequest,
): GroupOffer[] {
  const room = new Map(ranked.map((h) => [h.id, fitsOn(h, req)]));
  const offers = new Map<string, string[]>();
  const offer = (hostId: string, instanceId: string) => {
    const list = offers.get(hostId);
    if (list) list.push(instanceId);
    else offers.set(hostId, [instanceId]);
    room.set(hostId, room.get(hostId)! - 1);
  };
  /** The first host of the rack with room, in rank order. */
  const hostIn = (key: string) => ranked.find((h) => rackKey(h.zone, h.rack) === key && room.get(h.id)! > 0);

  if (spec.strategy === "cluster") {
    // The members' rack; with none yet, the rack that holds the most of this launch (first in rank on a tie).
    let target: string | undefined;
    if (members.length > 0) {
      const counts = new Map<string, number>();
      for (const m of members)
        counts.set(rackKey(m.zone, m.rack), (counts.get(rackKey(m.zone, m.rack)) ?? 0) + 1);
      target = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0][0];
    } else {
      const byRack = new Map<string, number>();
      for (const h of ranked) {
        const k = rackKey(h.zone, h.rack);
        byRack.set(k, (byRack.get(k) ?? 0) + room.get(h.id)!);
      }
      let best = -1;
      for (const [k, n] of byRack) {
        if (n > best) {
          best = n;
          target = k;
        }
      }
    }
    if (target === undefined) return [];
    for (const inst of instances) {
      const h = hostIn(target);
      if (!h) break;
      offer(h.id, inst.instanceId);
    }
  } else if (spec.strategy === "spread") {
    const taken = new Set(members.map((m) => rackKey(m.zone, m.rack)));
    const perZone = new Map<string, number>();
    for (const m of members) perZone.set(m.zone, (perZone.get(m.zone) ?? 0) + 1);
    for (const inst of instances) {
      const h = ranked.find(
        (c) =>
          !taken.has(rackKey(c.zone, c.rack)) &&
          room.get(c.id)! > 0 &&
          (perZone.get(c.zone) ?? 0) < MAX_SPREAD_INSTANCES_PER_ZONE,
      );
      if (!h) break;
      taken.add(rackKey(h.zone, h.rack));
      perZone.set(h.zone, (perZone.get(h.zone) ?? 0) + 1);
      offer(h.id, inst.instanceId);
    }
  } else {
    // Each rack belongs to the partition of its members; a rack with none is free to claim.
    const owner = new Map<string, number>();
    for (const m of members) if (m.partition !== null) owner.set(rackKey(m.zone, m.rack), m.partition);
    for (const inst of instances) {
      const p = inst.partition;
      if (p === null) continue;
      const own = ranked.find((c) => owner.get(rackKey(c.zone, c.rack)) === p && room.get(c.id)! > 0);
      const h = own ?? ranked.find((c) => !owner.has(rackKey(c.zone, c.rack)) && room.get(c.id)! > 0);
      if (!h) continue;
      owner.set(rackKey(h.zone, h.rack), p);
      offer(h.id, inst.instanceId);
    }
  }
  return [...offers].map(([hostId, instanceIds]) => ({ hostId, instanceIds }));
}

/** Whether the members keep the group's rule: the invariant the planner must never break. */
export function keepsRule(spec: GroupSpec, members: readonly GroupMember[]): boolean {
  const racks = members.map((m) => rackKey(m.zone, m.rack));
  if (spec.strategy === "cluster") return new Set(racks).size <= 1;
  if (spec.strategy === "spread") {
    if (new Set(racks).size !== racks.length) return false;
    const perZone = new Map<string, number>();
    for (const m of members) perZone.set(m.zone, (perZone.get(m.zone) ?? 0) + 1);
    return [...perZone.values()].every((n) => n <= MAX_SPREAD_INSTANCES_PER_ZONE);
  }
  const owner = new Map<string, number | null>();
  return members.every((m, i) => {
    const prev = owner.get(racks[i]);
    owner.set(racks[i], m.partition);
    return prev === undefined || prev === m.partition;
  });
}

/** Why a launch found no room in the group, for the capacity error. */
export function shortfall(spec: GroupSpec): string {
  switch (spec.strategy) {
    case "cluster":
      return "a cluster placement group's instances share one rack, and it has no room left for them";
    case "spread":
      return `a spread placement group puts each instance on a rack of its own, at most ${MAX_SPREAD_INSTANCES_PER_ZONE} in a zone, and no such rack has room`;
    case "partition":
      return "a partition placement group's partitions never share a rack, and no rack of the partition (nor a free one) has room";
  }
}
