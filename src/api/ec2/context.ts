// What an EC2 action gets: the fleet as its caller's account sees it and the request's
// parameters. An action reads every parameter first, then calls `ready`, which refuses
// what it did not read and answers a DryRun; only after that does it change anything.
import type { Fleet } from "../../fleet/context";
import type { InstanceView } from "../../fleet/instance-view";
import { QueryError, type QueryParams } from "./query";
import type { Xml } from "./xml";

export interface ActionContext {
  fleet: Fleet;
  q: QueryParams;
  accountId: string;
}

export type Action = (ctx: ActionContext) => Promise<Record<string, Xml>>;

/** Unknown parameters refused, then DryRun answered (EC2: DryRunOperation, HTTP 412). */
export function ready(ctx: ActionContext, dryRun: boolean | undefined): void {
  ctx.q.done();
  if (dryRun)
    throw new QueryError("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412);
}

/** A `{ key, value }` list, as EC2's `tagSet`. */
export const tagSet = (tags: Record<string, string>) =>
  Object.entries(tags).map(([key, value]) => ({ key, value }));

/**
 * Every type in the catalog runs two hardware threads per core (Intel Xeon with
 * Hyper-Threading, as EC2's c4/m4/r4/m3 and c5/m5/r5 families all do), so a type's cores are
 * half its vCPUs.
 */
export const THREADS_PER_CORE = 2;

/** An instance as EC2's `instancesSet` item shows it. */
export function instanceItem(i: InstanceView) {
  const stopped = i.state.name === "stopped" || i.state.name === "terminated";
  return {
    instanceId: i.instanceId,
    instanceState: { code: i.state.code, name: i.state.name },
    privateDnsName: "",
    dnsName: "",
    reason: i.stateTransitionReason,
    instanceType: i.instanceType,
    launchTime: i.launchTime,
    placement: {
      availabilityZone: i.availabilityZone,
      groupName: i.placementGroup?.groupName ?? "",
      groupId: i.placementGroup?.groupId,
      partitionNumber: i.placementGroup?.partitionNumber ?? undefined,
      tenancy: i.tenancy,
      hostId: i.hostId ?? undefined,
    },
    monitoring: { state: "disabled" },
    clientToken: i.clientToken ?? "",
    tagSet: tagSet(i.tags),
    // EC2's Instance.Hypervisor is "ovm" or "xen", and Nitro instances report "xen" too;
    // DescribeInstanceTypes is where EC2 says "nitro", and so does this fleet.
    hypervisor: "xen",
    virtualizationType: i.virtualizationType,
    architecture: "x86_64",
    cpuOptions: { coreCount: i.vcpus / THREADS_PER_CORE, threadsPerCore: THREADS_PER_CORE },
    stateReason: stopped
      ? { code: "Client.UserInitiatedShutdown", message: i.stateTransitionReason }
      : undefined,
  };
}

/** Instances grouped by reservation in the order they come, as `reservationSet` items. */
export function reservations(list: readonly InstanceView[], accountId: string) {
  const groups = new Map<string, InstanceView[]>();
  for (const i of list) {
    const g = groups.get(i.reservationId);
    if (g) g.push(i);
    else groups.set(i.reservationId, [i]);
  }
  return [...groups].map(([reservationId, items]) => ({
    reservationId,
    ownerId: accountId,
    groupSet: [],
    instancesSet: items.map(instanceItem),
  }));
}
