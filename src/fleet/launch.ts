// Launching instances (EC2's RunInstances): check the request, take its client token,
// make the records and place them; between minCount and maxCount launch, or none.
import { findInstanceType, type VirtualizationType } from "../sim/catalog";
import { resolveWorkload, type WorkloadSpec } from "../sim/cpu";
import { memoryOptions } from "../sim/host";
import { resolveOptions } from "../sim/memory";
import type { PlacementStrategy } from "../sim/placement";
import { type FleetEvent, type InstanceRecord, offeredInstance, type PagingOptions } from "../sim/records";
import { completeToken, releaseToken, takeToken } from "./client-tokens";
import type { Fleet } from "./context";
import { dedicatedPool } from "./dedicated-hosts";
import { type Interfaces, makeInterfaces, type NetworkChoice, type NetworkPlan, planNetwork } from "./enis";
import { ApiError, checked, invalidParameter, isRefusal } from "./errors";
import { newId } from "./ids";
import { instanceView } from "./instance-view";
import { checkClientToken, checkLaunchBytes, checkLaunchCount, checkTags, checkZone } from "./limits";
import { latestRecords, mirror, mirrorApplied, type Statement } from "./mirror";
import { isUniqueViolation } from "./network-errors";
import { creatorAccount } from "./ownership";
import { inParallel } from "./parallel";
import { place } from "./placement";
import { groupLaunch } from "./placement-groups";
import { forgetAddresses } from "./subnet-addresses";

export interface RunInstancesInput extends NetworkChoice {
  instanceType: string;
  minCount: number;
  maxCount: number;
  availabilityZone?: string;
  placementStrategy: PlacementStrategy;
  clientToken?: string;
  tags: Record<string, string>;
  workload: WorkloadSpec;
  paging: PagingOptions;
  /** Where the type offers more than one; its first (hvm) when absent. */
  virtualizationType?: VirtualizationType;
  /** The placement group to launch into (EC2's Placement.GroupName and PartitionNumber). */
  placementGroup?: { groupName: string; partitionNumber?: number };
  /** "host": on the account's Dedicated Hosts (the one `hostId` names, or any with auto-placement on). */
  tenancy?: "default" | "host";
  hostId?: string;
}

export async function runInstances(fleet: Fleet, input: RunInstancesInput) {
  const accountId = creatorAccount(fleet.caller);
  const type = findInstanceType(input.instanceType);
  if (!type) throw invalidParameter("instanceType", `'${input.instanceType}' is not a known instance type`);
  checked("workload", () => resolveWorkload(input.workload));
  const virtualizationType = input.virtualizationType ?? type.virtualizationTypes[0];
  if (!type.virtualizationTypes.includes(virtualizationType)) {
    throw invalidParameter(
      "virtualizationType",
      `${type.name} runs ${type.virtualizationTypes.join(" or ")} guests only, not ${virtualizationType}`,
    );
  }
  checked("paging", () => resolveOptions(memoryOptions(input.paging, virtualizationType, type.vcpus)));
  checkLaunchCount("body.minCount", input.minCount);
  checkLaunchCount("body.maxCount", input.maxCount);
  if (input.minCount > input.maxCount) throw invalidParameter("minCount", "must not exceed maxCount");
  if (input.availabilityZone !== undefined) checkZone("body.availabilityZone", input.availabilityZone);
  if (input.clientToken !== undefined) checkClientToken("body.clientToken", input.clientToken);
  checkTags("body.tags", input.tags);
  checkLaunchBytes("body.maxCount", input.maxCount, input.tags);
  // A launch for a dedicated host goes to the account's own (dedicated-hosts.ts); a named one names the zone.
  const pool =
    input.tenancy === "host" || input.hostId !== undefined
      ? await dedicatedPool(fleet, type, input.availabilityZone, input.hostId)
      : undefined;
  const requestedZone = input.availabilityZone ?? pool?.zone;
  // A subnet names the zone; without one, the default VPC's subnet of whichever zone it lands in.
  const network = await planNetwork(fleet, input, requestedZone, input.maxCount);
  const zone = requestedZone ?? network.zone;
  const group = input.placementGroup ? await groupLaunch(fleet, input.placementGroup, input.maxCount) : null;
  const reservationId = newId("r");
  const token = input.clientToken;
  if (token) {
    const replay = await takeToken(fleet, token, input, reservationId);
    if (replay) return replay;
  }

  const records: InstanceRecord[] = Array.from({ length: input.maxCount }, (_, i) =>
    offeredInstance(type, {
      instanceId: newId("i"),
      accountId,
      reservationId,
      virtualizationType,
      zone,
      clientToken: token,
      tags: input.tags,
      workload: input.workload,
      placementStrategy: input.placementStrategy,
      paging: input.paging,
      placementGroup: group?.memberships[i],
    }),
  );
  // Without a requested zone the instance takes its host's zone, filled in at admission.
  // The placed instances' interfaces are stored in the same D1 batch as their rows.
  let attached = { ok: true } as Attached;
  const store = async (evs: FleetEvent[]) => {
    attached = await storeWithInterfaces(fleet, network, reservationId, evs, (placed) =>
      pool ? [keepTenancy(placed, input.hostId)] : [],
    );
  };
  let events: FleetEvent[];
  try {
    events = await place(
      fleet,
      type,
      records,
      input.minCount,
      zone,
      input.placementStrategy,
      group?.placement,
      store,
      pool,
    );
  } catch (err) {
    // A refusal launched nothing, so the token is free for a retry. After any other failure
    // the outcome is unknown: the token stays taken until it goes stale.
    if (token && isRefusal(err)) await releaseToken(fleet, token, reservationId);
    throw err;
  }
  // A launch's tags are its own, whatever its events carry (only an instance's first does).
  const launched = placedOf(events, reservationId).map((r) => ({ ...r, tags: input.tags }));
  launched.sort((a, b) => (a.instanceId < b.instanceId ? -1 : 1));
  if (!attached.ok) {
    // EC2 launches no instance it cannot give its network interface: these are terminated
    // again, and the launch fails with the reason.
    await rollBack(fleet, launched);
    if (token) await releaseToken(fleet, token, reservationId);
    const instanceIds = launched.map((r) => r.instanceId);
    const rolledBack = `the launch was rolled back: its ${instanceIds.length} instances are terminated`;
    const err = attached.err;
    throw err instanceof ApiError
      ? new ApiError(err.status, err.code, `${err.message}; ${rolledBack}`, { ...err.extra, instanceIds })
      : new ApiError(
          500,
          "InternalError",
          `The instances' network interfaces could not be stored; ${rolledBack}`,
          {
            instanceIds,
          },
        );
  }
  if (token) {
    const ids = launched.map((r) => r.instanceId);
    try {
      await completeToken(fleet, token, reservationId, ids);
    } catch (err) {
      // The instances are launched: the answer says so. A retry with the token finds them
      // by the reservation once the token goes stale (client-tokens.ts).
      console.warn("completing a client token failed; its launch stands", err);
    }
  }
  return { reservationId, instances: launched.map((r) => instanceView(r, pool ? "host" : "default")) };
}

type Attached = { ok: true } | { ok: false; err: unknown };

/** The instances of the reservation that a host committed, as the events leave them. */
function placedOf(events: readonly FleetEvent[], reservationId: string) {
  return latestRecords(events).filter((r) => r.reservationId === reservationId && r.state !== "terminated");
}

/**
 * Marks instances launched for a dedicated host, with the host the launch named (none: auto-placement),
 * so that a start after a stop places them on the account's dedicated hosts again (instance-actions.ts).
 */
function keepTenancy(placed: readonly { instanceId: string }[], hostId: string | undefined): Statement {
  return {
    sql: `UPDATE "instances" SET "tenancy" = 'host', "host_affinity" = ? WHERE "id" IN (SELECT value FROM json_each(?))`,
    params: [hostId ?? null, JSON.stringify(placed.map((r) => r.instanceId))],
  };
}

/** Attempts at storing a launch's interfaces when other launches take their addresses first. */
const STORE_ATTEMPTS = 5;

/**
 * Mirrors a placement's events with the interfaces of the instances it placed, in one D1
 * batch. An address another isolate took first fails the batch (its unique index): the
 * addresses are read again and the batch goes again. Any other failure is the answer, for
 * the launch to roll back; the events are then mirrored without interfaces (or, failing
 * that, reach D1 through the events queue).
 */
async function storeWithInterfaces(
  fleet: Fleet,
  network: NetworkPlan,
  reservationId: string,
  events: FleetEvent[],
  tenancyOf: (placed: readonly { instanceId: string }[]) => Statement[],
): Promise<Attached> {
  const placed = placedOf(events, reservationId);
  for (let attempt = 0; ; attempt++) {
    let made: Interfaces | null = null;
    try {
      made = await makeInterfaces(fleet, network, placed, attempt > 0);
      await mirror(fleet.db, events, [...made.statements, ...tenancyOf(placed)]);
      return { ok: true };
    } catch (err) {
      if (made) forgetAddresses(fleet.env.DB, made.subnetIds);
      if (made && isUniqueViolation(err) && attempt + 1 < STORE_ATTEMPTS) continue;
      await mirrorApplied(fleet.db, events);
      return { ok: false, err };
    }
  }
}

/** Terminates instances that were placed but cannot stay: their hosts free them at once. */
async function rollBack(fleet: Fleet, launched: readonly { instanceId: string; hostId: string | null }[]) {
  const clock = await fleet.clock();
  const onHosts = launched.filter((r) => r.hostId !== null);
  const answers = await inParallel(onHosts, (r) =>
    fleet.host(r.hostId!).act(r.instanceId, "terminate", clock),
  );
  const events: FleetEvent[] = [];
  answers.forEach((a, i) => {
    if (a.ok) events.push(...a.value.events);
    else console.warn(`rolling back ${onHosts[i].instanceId} failed; reconcile will find it`, a.err);
  });
  await mirrorApplied(fleet.db, events);
}
