// Placement of a launch (or of a start of a stopped instance): rank the hosts the isolate
// knows (candidates.ts, sim/placement.ts), offer the instances to many hosts' objects at once,
// and launch at least the minimum or nothing at all.
import { eq } from "drizzle-orm";
import { hosts } from "../db/schema";
import type { InstanceType } from "../sim/catalog";
import { type PlacementStrategy, planOffers, rankHosts } from "../sim/placement";
import type { FleetEvent, HostUsage, InstanceRecord } from "../sim/records";
import { type Candidate, familyHosts, noteUsage } from "./candidates";
import type { Fleet } from "./context";
import type { DedicatedPool } from "./dedicated-hosts";
import { ApiError, invalidParameter, OutcomeUnknown } from "./errors";
import { mirrorApplied } from "./mirror";
import { inParallel } from "./parallel";
import type { GroupPlacement } from "./placement-groups";

function capacityError(type: InstanceType, zone: string | undefined, zonesWithCapacity: string[]): ApiError {
  const where = zone ? `in the Availability Zone (${zone})` : "in any Availability Zone";
  const hint =
    zonesWithCapacity.length > 0
      ? ` You can currently get ${type.name} capacity by not specifying an Availability Zone or by choosing ${zonesWithCapacity.join(", ")}.`
      : " Try again later, or choose another instance type.";
  return new ApiError(
    503,
    "InsufficientInstanceCapacity",
    `We currently do not have sufficient ${type.name} capacity ${where}.${hint}`,
    { instanceType: type.name, zonesWithCapacity },
    { "retry-after": "5" },
  );
}

/**
 * Places `records` (all of one type) on hosts: at least `minCount` or none. Each host's
 * object decides admission itself, so a host that lost a race simply admits fewer and
 * what it left goes to the next candidates. A host holds what it admitted, uncommitted,
 * unless it alone reaches what is left of the minimum; once the minimum is placed, every
 * hold is committed. Returns the placed records' events (already mirrored).
 *
 * A host that fails to answer ends the placement: it may have admitted what it was offered,
 * so that must not go anywhere else. What other hosts committed before it stands, and the
 * answer is those instances, whatever the minimum; with none committed, the outcome on the
 * silent host is unknown, and the error says so (OutcomeUnknown).
 */
export async function place(
  fleet: Fleet,
  type: InstanceType,
  records: InstanceRecord[],
  minCount: number,
  zone: string | undefined,
  strategy: PlacementStrategy,
  /** The placement group the records join: its rule decides which hosts are offered what. */
  group?: GroupPlacement,
  /**
   * How the placement's events reach D1, whatever its outcome; it must not throw. By
   * default they are mirrored as an applied change (a launch stores its interfaces with them).
   */
  store: (events: FleetEvent[]) => Promise<void> = (evs) => mirrorApplied(fleet.db, evs),
  /** A launch for a dedicated host: only these hosts (the account's own), offered as such. */
  pool?: DedicatedPool,
): Promise<FleetEvent[]> {
  const [clock, first] = await Promise.all([
    fleet.clock(),
    pool ? { hosts: pool.hosts, read: true } : familyHosts(fleet, type.family),
  ]);
  const request = {
    family: type.family,
    zone,
    vcpus: type.vcpus,
    memoryMiB: type.memoryMiB,
    nvmeGB: type.instanceStorage.totalGB,
  };
  /** Offers of the plan's counts, records taken in order. */
  const sliced = (ranked: Candidate[], remaining: InstanceRecord[]) => {
    let at = 0;
    return planOffers(ranked, remaining.length, request, strategy).map((o) => {
      const offer = remaining.slice(at, at + o.count);
      at += o.count;
      return { hostId: o.hostId, offer };
    });
  };
  // This placement's own view of the hosts, newest use first; hosts that took fewer than
  // they were offered are full for this type.
  const known = new Map<string, Candidate>(first.hosts.map((h) => [h.id, h]));
  let readD1 = first.read;
  const full = new Set<string>();
  const events: FleetEvent[] = [];
  const held = new Map<string, string[]>();
  let remaining = records;
  let placed = 0;
  let committed = 0;
  // The host that did not answer, if one did not.
  const silent: { hostId?: string; err?: unknown } = {};
  const note = (hostId: string, usage: HostUsage) => {
    noteUsage(fleet, type.family, hostId, usage);
    const h = known.get(hostId);
    if (!h || h.usageVersion > usage.version) return;
    Object.assign(h, {
      usageVersion: usage.version,
      state: usage.state,
      freeVcpus: usage.capacity.vcpus.free,
      freeMemoryMiB: usage.capacity.memoryMiB.free,
      freeNvmeGB: usage.capacity.nvmeGB.free,
    });
  };

  /** Commits the holds, all at once; false when a host did not answer (its outcome unknown). */
  const commitHeld = async (): Promise<boolean> => {
    const holds = [...held];
    const answers = await inParallel(holds, ([hostId, ids]) => fleet.host(hostId).commit(ids, clock));
    holds.forEach(([hostId, ids], i) => {
      const a = answers[i];
      if (!a.ok) {
        if (!silent.hostId) Object.assign(silent, { hostId, err: a.err });
        return;
      }
      events.push(...a.value.events);
      note(hostId, a.value.usage);
      held.delete(hostId);
      committed += ids.length;
    });
    return !silent.hostId;
  };

  // Rounds of offers, each made to many hosts at once. A round's numbers come from what the
  // hosts last said of themselves (or D1 said of them), so a round rarely offers a host more
  // than it takes; one that takes fewer is full, and what it left goes round again.
  try {
    while (remaining.length > 0) {
      const open = [...known.values()].filter((h) => !full.has(h.id));
      const ranked = rankHosts(open, request, strategy) as Candidate[];
      const offers = group ? group.offers(ranked, remaining, request) : sliced(ranked, remaining);
      if (offers.length === 0) {
        // No room in a view this placement did not read itself: D1 may know better.
        if (readD1) break;
        readD1 = true;
        for (const h of (await familyHosts(fleet, type.family, true)).hosts) {
          const mine = known.get(h.id);
          if (!mine || mine.usageVersion < h.usageVersion) known.set(h.id, h);
        }
        continue;
      }
      const commitIfAtLeast = Math.max(1, minCount - placed);
      const answers = await inParallel(offers, (o) =>
        fleet.host(o.hostId).admit(o.offer, commitIfAtLeast, clock, pool?.tenancy),
      );
      const admittedNow = new Set<string>();
      offers.forEach(({ hostId, offer }, i) => {
        const a = answers[i];
        if (!a.ok) {
          if (!silent.hostId) Object.assign(silent, { hostId, err: a.err });
          return;
        }
        events.push(...a.value.events);
        note(hostId, a.value.usage);
        const admitted = a.value.result;
        if (group && admitted.length > 0) {
          const taken = new Set(admitted);
          group.admitted(
            known.get(hostId)!,
            offer.filter((r) => taken.has(r.instanceId)),
          );
        }
        if (admitted.length < offer.length) full.add(hostId);
        if (admitted.length === 0) return;
        if (admitted.length < commitIfAtLeast) held.set(hostId, admitted);
        else committed += admitted.length;
        placed += admitted.length;
        for (const id of admitted) admittedNow.add(id);
      });
      remaining = remaining.filter((r) => !admittedNow.has(r.instanceId));
      if (silent.hostId) break;
      if (placed >= minCount && held.size > 0 && !(await commitHeld())) break;
    }
  } finally {
    // Below the minimum, or after a host went silent: every hold left is given back. A hold
    // whose commit may have landed is given back too; a committed instance ignores it.
    const holds = [...held];
    const answers = await inParallel(holds, ([hostId, ids]) => fleet.host(hostId).cancel(ids, clock));
    holds.forEach(([hostId], i) => {
      const a = answers[i];
      if (a.ok) {
        events.push(...a.value.events);
        note(hostId, a.value.usage);
      } else console.warn("cancel of an admission hold failed; it lapses by itself", a.err);
    });
    await store(events);
  }
  if (silent.hostId) {
    console.warn(
      `host ${silent.hostId} did not answer a placement; ${committed} instances committed elsewhere`,
      silent.err,
    );
    if (committed === 0) throw new OutcomeUnknown(silent.hostId);
    return events;
  }
  if (placed < minCount) {
    if (zone && !(await fleet.db.select({ z: hosts.zone }).from(hosts).where(eq(hosts.zone, zone)).get())) {
      throw invalidParameter("availabilityZone", `'${zone}' is not a zone of this fleet`);
    }
    if (group) throw group.capacityError(type, zone);
    const elsewhere = rankHosts([...known.values()], { ...request, zone: undefined }, "spread")
      .map((h) => h.zone)
      .filter((z) => z !== zone);
    throw capacityError(type, zone, [...new Set(elsewhere)].sort());
  }
  return events;
}
