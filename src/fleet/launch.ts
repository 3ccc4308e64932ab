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
import { attachNetwork, type NetworkChoice, planNetwork } from "./enis";
import { checked, invalidParameter, isRefusal } from "./errors";
import { newId } from "./ids";
import { instanceView } from "./instance-view";
import { checkClientToken, checkLaunchBytes, checkLaunchCount, checkTags, checkZone } from "./limits";
import { latestRecords } from "./mirror";
import { creatorAccount } from "./ownership";
import { place } from "./placement";
import { groupLaunch } from "./placement-groups";

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
  // A subnet names the zone; without one, the default VPC's subnet of whichever zone it lands in.
  const network = await planNetwork(fleet, input, input.availabilityZone, input.maxCount);
  const zone = input.availabilityZone ?? network.zone;
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
    );
  } catch (err) {
    // A refusal launched nothing, so the token is free for a retry. After any other failure
    // the outcome is unknown: the token stays taken until it goes stale.
    if (token && isRefusal(err)) await releaseToken(fleet, token, reservationId);
    throw err;
  }
  // A launch's tags are its own, whatever its events carry (only an instance's first does).
  const launched = latestRecords(events)
    .filter((r) => r.reservationId === reservationId)
    .map((r) => ({ ...r, tags: input.tags }));
  launched.sort((a, b) => (a.instanceId < b.instanceId ? -1 : 1));
  await attachNetwork(fleet, network, launched);
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
  return { reservationId, instances: launched.map(instanceView) };
}
