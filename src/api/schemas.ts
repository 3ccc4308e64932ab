// The zod schemas shared by requests, responses and the OpenAPI document.
import { z } from "@hono/zod-openapi";
import { FAMILIES } from "../sim/catalog";
import { PROFILE_NAMES } from "../sim/cpu";
import { INSTANCE_STATES } from "../sim/lifecycle";
import { HOST_STATES } from "../sim/records";

export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    code: z.string().openapi({ example: "InvalidParameterValue" }),
    detail: z.string(),
  })
  .passthrough()
  .openapi("Problem");

export const problemResponses = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((s) => [
      s,
      {
        description: "Problem details (RFC 9457)",
        content: { "application/problem+json": { schema: Problem } },
      },
    ]),
  );

export const Limit = z.coerce.number().int().min(1).max(1000).default(100);

export const Capacity = z
  .object({
    vcpus: z.object({ total: z.number(), reserved: z.number(), used: z.number(), free: z.number() }),
    memoryMiB: z.object({ total: z.number(), reserved: z.number(), used: z.number(), free: z.number() }),
    nvmeGB: z.object({ total: z.number(), used: z.number(), free: z.number() }),
    vms: z.number(),
  })
  .openapi("Capacity");

export const Host = z
  .object({
    hostId: z.string().openapi({ example: "h-0123456789abcdef0" }),
    availabilityZone: z.string(),
    rack: z.string(),
    family: z.enum(FAMILIES),
    hypervisor: z.enum(["nitro", "xen", "type2"]),
    state: z.enum(HOST_STATES),
    sockets: z.number(),
    coresPerSocket: z.number(),
    threadsPerCore: z.number(),
    memoryMiB: z.number(),
    nvmeGB: z.number(),
    capacity: Capacity,
    usageVersion: z.number(),
    createdAt: z.string(),
  })
  .openapi("Host");

const StateName = z.enum(INSTANCE_STATES);

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
      idleWakeupsPerSec: rate.optional(),
      networkLoad: z.number().min(0).max(100).optional(),
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

const level = z.union([z.literal(4), z.literal(5)]);
const pageSize = z.enum(["4K", "2M", "1G"]);

/** How the guest pages and the hypervisor backs it: what the memory model runs for this instance. */
export const Paging = z
  .strictObject({
    mode: z.enum(["ept", "shadow"]).optional(),
    guestLevels: level.optional().openapi({ description: "4 (48-bit) or 5 (57-bit, LA57)" }),
    eptLevels: level.optional(),
    guestPageSize: pageSize.optional().openapi({ description: "largest leaf the guest maps" }),
    eptPageSize: pageSize.optional().openapi({ description: "largest leaf the hypervisor installs" }),
    vpid: z
      .boolean()
      .optional()
      .openapi({ description: "tag TLB entries with the VM's VPID, so VM exits keep them (default true)" }),
    pcid: z.boolean().optional().openapi({
      description: "tag TLB entries with the process's PCID, so CR3 writes keep them (default true)",
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

export const Optimizations = z
  .strictObject({
    largePages: z.boolean().optional(),
    cpuAffinity: z.boolean().optional(),
    sriov: z.boolean().optional(),
    ballooning: z.boolean().optional(),
    pvDrivers: z.boolean().optional(),
  })
  .openapi("Optimizations");

export const InstanceState = z.object({ code: z.number().int(), name: StateName }).openapi("InstanceState");

export const Instance = z
  .object({
    instanceId: z.string().openapi({ example: "i-0123456789abcdef0" }),
    reservationId: z.string(),
    instanceType: z.string(),
    state: InstanceState,
    availabilityZone: z.string(),
    hostId: z.string().nullable(),
    hypervisor: z.enum(["nitro", "xen", "type2"]),
    launchTime: z.string(),
    stateTransitionTime: z.string(),
    stateTransitionReason: z.string(),
    clientToken: z.string().nullable(),
    tags: z.record(z.string(), z.string()),
    workload: Workload,
    placementStrategy: z.string(),
    paging: Paging,
    vcpus: z.number(),
    memoryMiB: z.number(),
    instanceStorageGB: z.number(),
    cpuPinning: z.array(z.number()),
  })
  .openapi("Instance");

export const StateChange = z
  .object({ instanceId: z.string(), previousState: InstanceState, currentState: InstanceState })
  .openapi("InstanceStateChange");

export const InstanceIdParam = z.object({
  id: z
    .string()
    .regex(/^i-[0-9a-f]{17}$/, "must look like i- followed by 17 hex digits")
    .openapi({ param: { name: "id", in: "path" }, example: "i-0123456789abcdef0" }),
});

export const HostIdParam = z.object({
  id: z
    .string()
    .regex(/^h-[0-9a-f]{17}$/, "must look like h- followed by 17 hex digits")
    .openapi({ param: { name: "id", in: "path" }, example: "h-0123456789abcdef0" }),
});

export const StateNames = StateName;
