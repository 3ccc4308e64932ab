// An instance's D1 row and its record (sim/host.ts), one mapping each way: every read of
// the inventory decodes with rowToRecord, and the mirror writes with recordToRow.
import type { instances } from "../db/schema";
import type { WorkloadSpec } from "../sim/cpu";
import type { InstanceState } from "../sim/lifecycle";
import type { InstanceRecord, PagingOptions } from "../sim/records";

export type InstanceRow = typeof instances.$inferSelect;

/**
 * The workload column holds a profile's name as it is, or a custom profile (an object) as
 * JSON. No profile name starts with "{", so the text says which it is.
 */
export function encodeWorkload(spec: WorkloadSpec): string {
  return typeof spec === "string" ? spec : JSON.stringify(spec);
}

export function decodeWorkload(text: string): WorkloadSpec {
  return text.startsWith("{") ? (JSON.parse(text) as WorkloadSpec) : (text as WorkloadSpec);
}

/** The launch's tenancy the row keeps ("host": launched for a dedicated host). */
export const tenancyOf = (r: Pick<InstanceRow, "tenancy">): "default" | "host" =>
  r.tenancy === "host" ? "host" : "default";

export function rowToRecord(r: InstanceRow): InstanceRecord {
  return {
    instanceId: r.id,
    accountId: r.accountId,
    reservationId: r.reservationId,
    instanceType: r.instanceType,
    family: r.family as InstanceRecord["family"],
    hypervisor: r.hypervisor as InstanceRecord["hypervisor"],
    virtualizationType: r.virtualizationType as InstanceRecord["virtualizationType"],
    zone: r.zone,
    hostId: r.hostId,
    state: r.state as InstanceState,
    stateCode: r.stateCode,
    version: r.version,
    launchTime: r.launchTime,
    stateTransitionTime: r.stateTransitionTime,
    stateReason: r.stateReason,
    clientToken: r.clientToken,
    tags: JSON.parse(r.tags) as Record<string, string>,
    workload: decodeWorkload(r.workload),
    placementStrategy: r.placementStrategy,
    paging: JSON.parse(r.paging) as PagingOptions,
    vcpus: r.vcpus,
    memoryMiB: r.memoryMiB,
    nvmeGB: r.nvmeGB,
    threads: JSON.parse(r.threads) as number[],
    terminatedAt: r.terminatedAt,
    ...(r.placementGroupId
      ? {
          placementGroup: {
            groupId: r.placementGroupId,
            groupName: r.placementGroupName ?? "",
            partitionNumber: r.placementPartition,
          },
        }
      : {}),
  };
}

/** The row of a record; a written record holds no claim, since the change it records is done. */
export function recordToRow(i: InstanceRecord) {
  return {
    id: i.instanceId,
    // A record stored before accounts existed has no account.
    accountId: i.accountId ?? null,
    reservationId: i.reservationId,
    instanceType: i.instanceType,
    family: i.family,
    hypervisor: i.hypervisor,
    virtualizationType: i.virtualizationType,
    zone: i.zone,
    hostId: i.hostId,
    state: i.state,
    stateCode: i.stateCode,
    version: i.version,
    launchTime: i.launchTime,
    stateTransitionTime: i.stateTransitionTime,
    stateReason: i.stateReason,
    clientToken: i.clientToken,
    tags: JSON.stringify(i.tags),
    workload: encodeWorkload(i.workload),
    placementStrategy: i.placementStrategy,
    paging: JSON.stringify(i.paging ?? {}),
    vcpus: i.vcpus,
    memoryMiB: i.memoryMiB,
    nvmeGB: i.nvmeGB,
    threads: JSON.stringify(i.threads),
    terminatedAt: i.terminatedAt,
    claim: null,
    claimExpires: null,
    placementGroupId: i.placementGroup?.groupId ?? null,
    placementGroupName: i.placementGroup?.groupName ?? null,
    placementPartition: i.placementGroup?.partitionNumber ?? null,
  };
}
