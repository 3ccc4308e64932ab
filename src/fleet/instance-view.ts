// An instance as the API shows it: EC2's field names, state as code and name, ISO times.
import type { InstanceRecord } from "../sim/records";

export function instanceView(i: InstanceRecord) {
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
  };
}
export type InstanceView = ReturnType<typeof instanceView>;
