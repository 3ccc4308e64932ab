// An instance as the API shows it: EC2's field names, state as code and name, ISO times.
import type { InstanceRecord } from "../sim/records";
import { type InstanceRow, rowToRecord, tenancyOf } from "./instance-rows";

/**
 * `tenancy` is the launch's, kept on the instance's row ("host": launched for a dedicated host); a
 * record does not carry it.
 */
export function instanceView(i: InstanceRecord, tenancy: "default" | "host" = "default") {
  return {
    instanceId: i.instanceId,
    reservationId: i.reservationId,
    instanceType: i.instanceType,
    state: { code: i.stateCode, name: i.state },
    availabilityZone: i.zone,
    hostId: i.hostId,
    hypervisor: i.hypervisor,
    virtualizationType: i.virtualizationType,
    launchTime: new Date(i.launchTime).toISOString(),
    stateTransitionTime: new Date(i.stateTransitionTime).toISOString(),
    stateTransitionReason: i.stateReason,
    clientToken: i.clientToken,
    tags: i.tags,
    workload: i.workload,
    placementStrategy: i.placementStrategy,
    paging: i.paging,
    vcpus: i.vcpus,
    memoryMiB: i.memoryMiB,
    instanceStorageGB: i.nvmeGB,
    cpuPinning: i.threads,
    placementGroup: i.placementGroup ?? null,
    tenancy,
  };
}
export type InstanceView = ReturnType<typeof instanceView>;

/** The view of an instance's D1 row, with the tenancy the row keeps. */
export function rowView(r: InstanceRow) {
  return instanceView(rowToRecord(r), tenancyOf(r));
}
