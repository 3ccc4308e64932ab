// Instances as the API shows them, and what a launch chooses for them: the workload the CPU
// model runs and the paging the memory model runs.
import { z } from "@hono/zod-openapi";
import { PLACEMENT_GROUP_NAME_MAX_LENGTH } from "../../fleet/limits";
import {
  type InstanceType as CatalogType,
  FAMILIES,
  INSTANCE_TYPES,
  VIRTUALIZATION_TYPES,
} from "../../sim/catalog";
import { PROFILE_NAMES, type WorkloadSpec } from "../../sim/cpu";
import { INSTANCE_STATES } from "../../sim/lifecycle";
import { MAX_PARTITIONS_PER_ZONE } from "../../sim/placement-groups";
import type { PagingOptions, PlacementMembership } from "../../sim/records";
import {
  ClientToken,
  HostId,
  Hypervisor,
  InstanceId,
  InstanceTypeName,
  idOf,
  MAX_PAGE,
  oneOf,
  ReservationId,
  TagMap,
  Timestamp,
  text,
  Zone,
} from "./common";
import type { Assert, Mirrors } from "./exact";

/** The most vCPUs any type in the catalog has: the longest pinning an instance can hold. */
export const MAX_VCPUS = Math.max(...INSTANCE_TYPES.map((t) => t.vcpus));

export const StateNames = z.enum(INSTANCE_STATES);

const fraction = z.number().min(0).max(1);
const rate = z.number().min(0).max(1e12);

/** A named profile, or parameters over one (`base`, cpu_intensive when absent). */
export const Workload = z
  .union([
    z.enum(PROFILE_NAMES),
    z.strictObject({
      base: z.enum(PROFILE_NAMES).optional(),
      utilization: fraction.optional(),
      jitter: z.number().min(0).max(10).optional(),
      burst: z
        .strictObject({
          onUtilization: fraction,
          offUtilization: fraction,
          meanOnSec: z.number().min(1).max(86_400),
          meanOffSec: z.number().min(1).max(86_400),
        })
        .nullable()
        .optional(),
      kernelFraction: fraction.optional(),
      writeShare: fraction.optional(),
      idleWakeupsPerSec: rate.optional(),
      networkLoad: z.number().min(0).max(100).optional(),
      networkInLoad: z.number().min(0).max(100).optional(),
      packetBytes: z.number().int().min(64).max(65_536).optional(),
      storageLoad: z.number().min(0).max(100).optional(),
      ioBytes: z
        .number()
        .int()
        .min(512)
        .max(16 * 1024 * 1024)
        .optional(),
      perBusySecond: z
        .strictObject({
          cpuid: rate.optional(),
          msrRead: rate.optional(),
          msrWrite: rate.optional(),
          crAccess: rate.optional(),
          ioInstruction: rate.optional(),
          apicAccess: rate.optional(),
          timerInterrupts: rate.optional(),
          syscalls: rate.optional(),
          tlbMisses: rate.optional(),
          newPages: rate.optional(),
          ptUpdates: rate.optional(),
          pageTouches: rate.optional(),
        })
        .optional(),
    }),
  ])
  .openapi("Workload");
export type WorkloadChecked = Assert<Mirrors<typeof Workload, WorkloadSpec>>;

const level = z.union([z.literal(4), z.literal(5)]);
const pageSize = z.enum(["4K", "2M", "1G"]);

/** How the guest pages and the hypervisor backs it: what the memory model runs for this instance. */
export const Paging = z
  .strictObject({
    mode: z.enum(["ept", "shadow", "direct"]).optional().openapi({
      description: "direct for a paravirtual guest (its default); ept (the default) or shadow for HVM",
    }),
    guestLevels: level.optional().openapi({ description: "4 (48-bit) or 5 (57-bit, LA57)" }),
    eptLevels: level.optional(),
    guestPageSize: pageSize.optional().openapi({ description: "largest leaf the guest maps" }),
    eptPageSize: pageSize.optional().openapi({ description: "largest leaf the hypervisor installs" }),
    vpid: z.boolean().optional().openapi({
      description:
        "tag TLB entries with the VM's VPID, so VM exits keep them (default true; a paravirtual guest has none)",
    }),
    pcid: z.boolean().optional().openapi({
      description:
        "tag TLB entries with the process's PCID, so CR3 writes keep them (default true; a paravirtual guest has none)",
    }),
    tagged: z.boolean().optional().openapi({
      deprecated: true,
      description: "vpid and pcid together; use those. Must not contradict either",
    }),
    pageWalkCache: z
      .strictObject({ guest: z.number().int().min(0).max(256), nested: z.number().int().min(0).max(256) })
      .optional(),
  })
  .openapi("Paging");
export type PagingChecked = Assert<Mirrors<typeof Paging, PagingOptions>>;

export const VirtualizationType = z
  .enum(VIRTUALIZATION_TYPES)
  .openapi("VirtualizationType", { description: "as EC2's DescribeInstances VirtualizationType" });

export const InstanceState = z.object({ code: z.number().int(), name: StateNames }).openapi("InstanceState");

export const PlacementGroupId = idOf("pg", "pg-0123456789abcdef0");
/** A placement group's name: up to 255 ASCII characters, as EC2's. */
export const PlacementGroupName = z
  .string()
  .min(1)
  .max(PLACEMENT_GROUP_NAME_MAX_LENGTH)
  .regex(/^[\x20-\x7e]+$/, "must be printable ASCII")
  .openapi({ example: "web-spread" });
export const InstancePlacementGroup = z
  .object({
    groupId: PlacementGroupId,
    groupName: PlacementGroupName,
    partitionNumber: z.number().int().min(1).max(MAX_PARTITIONS_PER_ZONE).nullable(),
  })
  // Inline, not a named component: a nullable $ref would not say that null is allowed.
  .openapi({ description: "the placement group it was launched into" });
export type InstancePlacementGroupChecked = Assert<
  Mirrors<typeof InstancePlacementGroup, PlacementMembership>
>;

export const Instance = z
  .object({
    instanceId: InstanceId,
    reservationId: ReservationId,
    instanceType: InstanceTypeName,
    state: InstanceState,
    availabilityZone: Zone,
    hostId: HostId.nullable(),
    hypervisor: Hypervisor,
    virtualizationType: VirtualizationType,
    launchTime: Timestamp,
    stateTransitionTime: Timestamp,
    stateTransitionReason: text(256),
    clientToken: ClientToken.nullable(),
    tags: TagMap,
    workload: Workload,
    placementStrategy: oneOf(["binpack", "spread"]),
    paging: Paging,
    vcpus: z.number(),
    memoryMiB: z.number(),
    instanceStorageGB: z.number(),
    cpuPinning: z
      .array(z.number().int())
      .max(MAX_VCPUS)
      .openapi({ description: "host hardware thread of each vCPU" }),
    placementGroup: InstancePlacementGroup.nullable(),
    tenancy: oneOf(["default", "host"]).openapi({
      description: "host: launched for the account's Dedicated Hosts, and started on them again",
    }),
  })
  .openapi("Instance");

export const StateChange = z
  .object({ instanceId: InstanceId, previousState: InstanceState, currentState: InstanceState })
  .openapi("InstanceStateChange");

export const Reservation = z
  .object({ reservationId: ReservationId, instances: z.array(Instance).max(MAX_PAGE) })
  .openapi("Reservation");

export const InstancePage = z
  .object({ instances: z.array(Instance).max(MAX_PAGE), nextCursor: InstanceId.nullable() })
  .openapi("InstancePage");

export const InstanceType = z
  .object({
    name: InstanceTypeName,
    family: z.enum(FAMILIES),
    size: z
      .string()
      .max(16)
      .regex(/^[a-z0-9]+$/),
    hypervisor: z.enum(["nitro", "xen"]),
    vcpus: z.number(),
    memoryMiB: z.number(),
    networkGbps: z.number(),
    networkBurstGbps: z.number(),
    networkPerformance: z
      .string()
      .max(32)
      .regex(/^[A-Za-z0-9 ]+$/)
      .openapi({ example: "Up to 10 Gigabit" }),
    ebsBaselineMbps: z.number(),
    ebsBurstMbps: z.number(),
    ebsBaselineIops: z.number(),
    ebsBurstIops: z.number(),
    instanceStorage: z.object({
      disks: z.number(),
      diskGB: z.number(),
      totalGB: z.number(),
      nvme: z.boolean(),
    }),
    virtualizationTypes: z
      .array(VirtualizationType)
      .max(VIRTUALIZATION_TYPES.length)
      .openapi({ description: "what a launch may choose; the first is the default" }),
    enhancedNetworking: z
      .enum(["ena", "intel-82599-vf"])
      .nullable()
      .openapi({ description: "the SR-IOV device an HVM guest of the type drives, if any" }),
  })
  .openapi("InstanceType");
export type InstanceTypeChecked = Assert<Mirrors<typeof InstanceType, CatalogType>>;

export const InstanceTypeList = z
  .object({ instanceTypes: z.array(InstanceType).max(INSTANCE_TYPES.length) })
  .openapi("InstanceTypeList");
