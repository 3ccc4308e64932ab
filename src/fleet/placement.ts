// Placement of a launch (or of a start of a stopped instance): rank the hosts D1 knows
// (sim/placement.ts), offer the instances to each host's object in turn, and launch at
// least the minimum or nothing at all.
import { and, eq, notExists } from "drizzle-orm";
import { hostAttestations, hosts } from "../db/schema";
import type { InstanceType } from "../sim/catalog";
import { type HostCandidate, type PlacementStrategy, rankHosts } from "../sim/placement";
import type { FleetEvent, InstanceRecord } from "../sim/records";
import type { Fleet } from "./context";
import { ApiError, invalidParameter, OutcomeUnknown } from "./errors";
import { mirrorApplied } from "./mirror";

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
    .where(and(eq(hosts.family, family), eq(hosts.state, "available"), notQuarantined(fleet)));
}

/** A host whose measured boot failed attestation (security-boot.ts) is never offered an instance. */
function notQuarantined(fleet: Fleet) {
  return notExists(
    fleet.db
      .select({ one: hostAttestations.hostId })
      .from(hostAttestations)
      .where(and(eq(hostAttestations.hostId, hosts.id), eq(hostAttestations.status, "quarantined"))),
  );
}

/**
 * Places `records` (all of one type) on hosts: at least `minCount` or none. Each host's
 * object decides admission itself, so a host that lost a race simply admits fewer and
 * the next candidate is tried. Returns the placed records' events (already mirrored).
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
  let committed = 0;
  // The host that did not answer, if one did not (commitHeld sets it too).
  const silent: { hostId?: string; err?: unknown } = {};

  /** Commits the holds; false when a host did not answer (its outcome unknown, no retry). */
  const commitHeld = async (): Promise<boolean> => {
    for (const [hostId, ids] of held) {
      try {
        events.push(...(await fleet.host(hostId).commit(ids, clock)).events);
      } catch (err) {
        Object.assign(silent, { hostId, err });
        return false;
      }
      held.delete(hostId);
      committed += ids.length;
    }
    return true;
  };

  // Spread first shares what is left evenly over the hosts left, then (like binpack)
  // offers whatever still has no host to every host again.
  const passes: ("share" | "all")[] = strategy === "spread" ? ["share", "all"] : ["all"];
  try {
    offers: for (const pass of passes) {
      for (let i = 0; i < ranked.length && remaining.length > 0; i++) {
        const hostId = ranked[i].id;
        const share = pass === "share" ? Math.ceil(remaining.length / (ranked.length - i)) : remaining.length;
        const offer = remaining.slice(0, share);
        const commitIfAtLeast = Math.max(1, minCount - placed);
        let res: Awaited<ReturnType<ReturnType<Fleet["host"]>["admit"]>>;
        try {
          res = await fleet.host(hostId).admit(offer, commitIfAtLeast, clock);
        } catch (err) {
          Object.assign(silent, { hostId, err });
          break offers;
        }
        events.push(...res.events);
        const admitted = new Set(res.result);
        if (admitted.size === 0) continue;
        if (admitted.size < commitIfAtLeast) held.set(hostId, res.result);
        else committed += admitted.size;
        placed += admitted.size;
        remaining = remaining.filter((r) => !admitted.has(r.instanceId));
        if (placed >= minCount && held.size > 0 && !(await commitHeld())) break offers;
      }
    }
  } finally {
    // Below the minimum, or after a host went silent: every hold left is given back. A hold
    // whose commit may have landed is given back too; a committed instance ignores it.
    for (const [hostId, ids] of held) {
      try {
        events.push(...(await fleet.host(hostId).cancel(ids, clock)).events);
      } catch (err) {
        console.warn("cancel of an admission hold failed; it lapses by itself", err);
      }
    }
    await mirrorApplied(fleet.db, events);
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
    const elsewhere = rankHosts(all, { ...request, zone: undefined }, "spread")
      .map((h) => h.zone)
      .filter((z) => z !== zone);
    throw capacityError(type, zone, [...new Set(elsewhere)].sort());
  }
  return events;
}
