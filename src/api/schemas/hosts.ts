// Hosts as the API shows them: hardware, capacity and use, and what the hypervisor spends.
import { z } from "@hono/zod-openapi";
import { MAX_HOSTS_PER_REQUEST } from "../../fleet/limits";
import { FAMILIES } from "../../sim/catalog";
import { HOST_STATES, type HostUsage } from "../../sim/records";
import { HostId, Hypervisor, InstanceId, InstanceTypeName, MAX_PAGE, Rack, Timestamp, Zone } from "./common";
import { HostCpuSummary, Optimizations } from "./cpu";
import type { Assert, Mirrors } from "./exact";
import { MAX_VCPUS, StateNames } from "./instances";

/** The largest host a request may describe (8 sockets × 128 cores × 2 threads). */
export const HOST_LIMITS = { sockets: 8, coresPerSocket: 128, threadsPerCore: 2 } as const;
/** Every VM holds at least one whole hardware thread, so a host holds at most this many. */
export const MAX_HOST_VMS = HOST_LIMITS.sockets * HOST_LIMITS.coresPerSocket * HOST_LIMITS.threadsPerCore;

const count = z.number();

export const Capacity = z
  .object({
    vcpus: z.object({ total: count, reserved: count, used: count, free: count }),
    memoryMiB: z.object({ total: count, reserved: count, used: count, free: count }),
    nvmeGB: z.object({ total: count, used: count, free: count }),
    vms: count,
  })
  .openapi("Capacity");
export type CapacityChecked = Assert<Mirrors<typeof Capacity, HostUsage["capacity"]>>;

export const HostStateName = z.enum(HOST_STATES);

export const Host = z
  .object({
    hostId: HostId,
    availabilityZone: Zone,
    rack: Rack,
    family: z.enum(FAMILIES),
    hypervisor: Hypervisor,
    state: HostStateName,
    sockets: count,
    coresPerSocket: count,
    threadsPerCore: count,
    memoryMiB: count,
    nvmeGB: count,
    capacity: Capacity,
    usageVersion: count,
    createdAt: Timestamp,
  })
  .openapi("Host");

export const HostBatch = z
  .object({
    family: z.enum(FAMILIES),
    availabilityZone: Zone,
    created: count,
    hostIds: z.array(HostId).max(MAX_HOSTS_PER_REQUEST),
    unanswered: z.array(HostId).max(MAX_HOSTS_PER_REQUEST).openapi({
      description:
        "Hosts whose objects did not answer: each may or may not exist, and shows up in the inventory if it does",
    }),
  })
  .openapi("HostBatch");

export const HostPage = z
  .object({ hosts: z.array(Host).max(MAX_PAGE), nextCursor: HostId.nullable() })
  .openapi("HostPage");

/** The part of the CPU model's host summary a host's answer carries, over a window. */
export const HostVirtualization = HostCpuSummary.pick({
  hypervisorOverheadPct: true,
  utilizationPct: true,
  cycles: true,
  offload: true,
  features: true,
})
  .extend({ windowSeconds: z.number(), optimizations: Optimizations })
  .openapi("HostVirtualization");

export const HostDetail = Host.extend({
  virtualization: HostVirtualization,
  instances: z
    .array(
      z
        .object({
          instanceId: InstanceId,
          instanceType: InstanceTypeName,
          state: StateNames,
          cpuPinning: z.array(z.number().int()).max(MAX_VCPUS),
        })
        .openapi("HostInstance"),
    )
    .max(MAX_HOST_VMS),
  otherInstances: count.openapi({
    description: "Instances of other accounts on this host, which an account's key sees only counted",
  }),
}).openapi("HostDetail");
