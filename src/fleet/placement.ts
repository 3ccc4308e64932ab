// Placement of a launch (or of a start of a stopped instance): rank the hosts D1 knows
// (sim/placement.ts), offer the instances to each host's object in turn, and launch at
// least the minimum or nothing at all.
import { and, eq } from "drizzle-orm";
import { hosts } from "../db/schema";
import type { InstanceType } from "../sim/catalog";
import { type HostCandidate, type PlacementStrategy, rankHosts } from "../sim/placement";
import type { FleetEvent, InstanceRecord } from "../sim/records";
import type { Fleet } from "./context";
import { ApiError, invalidParameter } from "./errors";
import { mirror } from "./mirror";

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

async function candidates(fleet: Fleet, family: string): Promise<HostCandidate[]> {
  return fleet.db
    .select({
      id: hosts.id,
      zone: hosts.zone,
      family: hosts.family,
      state: hosts.state,
      freeVcpus: hosts.freeVcpus,
      freeMemoryMiB: hosts.freeMemoryMiB,
      freeNvmeGB: hosts.freeNvmeGB,
    })
    .from(hosts)
    .where(and(eq(hosts.family, family), eq(hosts.state, "available")));
}

/**
 * Places `records` (all of one type) on hosts: at least `minCount` or none. Each host's
 * object decides admission itself, so a host that lost a race simply admits fewer and
 * the next candidate is tried. Returns the placed records' events (already mirrored).
 */
export async function place(
  fleet: Fleet,
  type: InstanceType,
  records: InstanceRecord[],
  minCount: number,
  zone: string | undefined,
  strategy: PlacementStrategy,
): Promise<FleetEvent[]> {
  const [clock, all] = await Promise.all([fleet.clock(), candidates(fleet, type.family)]);
  const request = {
    family: type.family,
    zone,
    vcpus: type.vcpus,
    memoryMiB: type.memoryMiB,
    nvmeGB: type.instanceStorage.totalGB,
  };
  const ranked = rankHosts(all, request, strategy);
  const events: FleetEvent[] = [];
  const held = new Map<string, string[]>();
  let remaining = records;
  let placed = 0;

  const commitHeld = async () => {
    for (const [hostId, ids] of held) {
      // A failed commit leaves its outcome unknown (it may have landed): no retry elsewhere,
      // and no claim that the launch failed. The error goes to the caller.
      events.push(...(await fleet.host(hostId).commit(ids, clock)).events);
      held.delete(hostId);
    }
    held.clear();
  };

  // Spread first shares what is left evenly over the hosts left, then (like binpack)
  // offers whatever still has no host to every host again.
  const passes: ("share" | "all")[] = strategy === "spread" ? ["share", "all"] : ["all"];
  try {
    for (const pass of passes) {
      for (let i = 0; i < ranked.length && remaining.length > 0; i++) {
        const share = pass === "share" ? Math.ceil(remaining.length / (ranked.length - i)) : remaining.length;
        const offer = remaining.slice(0, share);
        const commitIfAtLeast = Math.max(1, minCount - placed);
        // A host that fails to answer may still have admitted: these records must not be
        // offered anywhere else, so the error ends the launch (and cancels the holds).
        const res = await fleet.host(ranked[i].id).admit(offer, commitIfAtLeast, clock);
        events.push(...res.events);
        const admitted = new Set(res.result);
        if (admitted.size === 0) continue;
        if (admitted.size < commitIfAtLeast) held.set(ranked[i].id, res.result);
        placed += admitted.size;
        remaining = remaining.filter((r) => !admitted.has(r.instanceId));
        if (placed >= minCount && held.size > 0) await commitHeld();
      }
    }
  } finally {
    // Below the minimum: nothing launches, every hold is given back.
    for (const [hostId, ids] of held) {
      try {
        events.push(...(await fleet.host(hostId).cancel(ids, clock)).events);
      } catch (err) {
        console.warn("cancel of an admission hold failed; it lapses by itself", err);
      }
    }
    try {
      await mirror(fleet.db, events);
    } catch (err) {
      // The hosts' outboxes carry the same events to D1 through the queue.
      console.warn("mirroring a launch to D1 failed; the events queue will apply it", err);
    }
  }
  if (placed < minCount) {
    if (zone && !(await fleet.db.select({ z: hosts.zone }).from(hosts).where(eq(hosts.zone, zone)).get())) {
      throw invalidParameter("availabilityZone", `'${zone}' is not a zone of this fleet`);
    }
    const elsewhere = rankHosts(all, { ...request, zone: undefined }, "spread")
      .map((h) => h.zone)
      .filter((z) => z !== zone);
    throw capacityError(type, zone, [...new Set(elsewhere)].sort());
  }
  return events;
}
