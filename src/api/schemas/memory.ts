// The memory model's figures as the API shows them: a translation walked step by step, a
// VM's memory map and counters, a host's frames.

import { z } from "@hono/zod-openapi";
import { MEMORY_OWNERS_MAX } from "../../host/answer";
import { MEMORY_EXIT_REASONS } from "../../sim/exits";
import type { AccessFaults as AccessFaultsModel } from "../../sim/host";
import { MMU_HYPERCALLS } from "../../sim/hypercalls";
import {
  type HostMemorySummary as HostMemoryModel,
  PAGE_1G,
  PAGE_2M,
  PAGE_4K,
  type Translation as TranslationModel,
  type VmMemorySummary as VmMemoryModel,
} from "../../sim/memory";
import { HostId, InstanceId, orNull } from "./common";
import { type Assert, keyed, type Mirrors } from "./exact";
import { MAX_HOST_VMS } from "./hosts";

/** EPT, shadow tables, or a paravirtual guest's direct paging. */
export const PAGING_MODES = ["ept", "shadow", "direct"] as const;

/** 5-level paging (LA57) is the deepest either walk goes. */
const MAX_LEVELS = 5;

const count = z.number();
const address = z.number().int().min(0);
const pageSize = z
  .number()
  .int()
  .openapi({ enum: [PAGE_4K, PAGE_2M, PAGE_1G], description: "bytes" });
const fault = z.enum(MEMORY_EXIT_REASONS).openapi({ example: "ept_violation" });

/** A guest-physical or host-physical address in hex, as the translate answer writes it. */
const HexAddress = z
  .string()
  .max(18)
  .regex(/^0x[0-9a-f]{1,16}$/)
  .openapi({ example: "0x1234000" });

/** A guest-virtual address as a request gives it: hex or decimal, `_` between digits allowed. */
export const GuestAddress = z
  .string()
  .min(1)
  .max(40)
  .regex(/^(0[xX][0-9a-fA-F_]+|[0-9_]+)$/, "must be a hex (0x...) or decimal address")
  .openapi({ example: "0x7f0000401000", description: "guest-virtual, hex or decimal" });

export const MemoryReference = z
  .object({
    n: z.number().int().openapi({ description: "1-based position in the walk" }),
    table: z.enum(["guest", "ept", "shadow"]),
    level: z.number().int(),
    hpa: address.openapi({ description: "host-physical address of the 8-byte entry read" }),
    entry: z.number(),
  })
  .openapi("MemoryReference");

export const EptWalk = z
  .object({
    gpa: address,
    cached: z.boolean().openapi({ description: "served by the nested TLB: no references made" }),
    references: z.array(MemoryReference).max(MAX_LEVELS),
    hpa: address.nullable(),
    pageSize: pageSize.nullable(),
    fault: fault.nullable(),
  })
  .openapi("EptWalk");

export const EntryFlags = z
  .object({
    present: z.boolean(),
    writable: z.boolean(),
    user: z.boolean(),
    accessed: z.boolean(),
    dirty: z.boolean(),
    largePage: z.boolean(),
    global: z.boolean().openapi({ description: "G bit: kept across CR3 writes without PCID" }),
  })
  .openapi("EntryFlags");

export const GuestLevelStep = z
  .object({
    level: z.number().int(),
    tableGpa: address,
    index: z.number().int(),
    entryGpa: address,
    ept: orNull(EptWalk).openapi({
      description: "the nested walk behind the entry; null under direct paging",
    }),
    reference: orNull(MemoryReference),
    entry: z.number().nullable(),
    flags: orNull(EntryFlags),
  })
  .openapi("GuestLevelStep");

/** One hardware access, step by step: the model's Translation, field for field. */
export const Walk = z
  .object({
    mode: z.enum(PAGING_MODES),
    asid: z.number().int(),
    vcpu: z.number().int(),
    gva: address,
    write: z.boolean(),
    tlbHit: z.boolean(),
    tlbLevel: z
      .union([z.literal(1), z.literal(2)])
      .nullable()
      .openapi({ description: "which TLB answered: 1 the first level, 2 the shared second level" }),
    hpa: address.nullable(),
    gpa: address.nullable(),
    pageSize: pageSize.nullable(),
    fault: fault.nullable(),
    memoryReferences: count,
    pwcStartLevel: z.number().int().nullable(),
    guest: z.array(GuestLevelStep).max(MAX_LEVELS),
    finalEpt: orNull(EptWalk),
    shadow: z.array(MemoryReference).max(MAX_LEVELS),
  })
  .openapi("Walk");
export type WalkChecked = Assert<Mirrors<typeof Walk, TranslationModel>>;

export const AccessFaults = z
  .object({
    guestPageFaults: count,
    eptViolations: count,
    eptMisconfigurations: count,
    vmExits: count,
    mmio: z.boolean(),
  })
  .openapi("AccessFaults");
export type AccessFaultsChecked = Assert<Mirrors<typeof AccessFaults, AccessFaultsModel>>;

export const Translation = z
  .object({
    instanceId: InstanceId,
    hostId: HostId,
    address: GuestAddress,
    addressSpace: z.number().int(),
    hpa: HexAddress.nullable(),
    gpa: HexAddress.nullable(),
    pageSize: pageSize.nullable(),
    tlbHit: z.boolean(),
    fault: fault.nullable().openapi({ description: "what the first attempt ran into, if anything" }),
    faultsHandled: orNull(AccessFaults),
    firstAttempt: Walk.openapi({ description: "the walk step by step, every memory reference numbered" }),
    retried: orNull(Walk),
  })
  .openapi("Translation");

const leaves = z.object({ "4k": count, "2m": count, "1g": count });

/** The model's VmMemorySummary, field for field. */
const VmMemory = z.object({
  vmId: InstanceId,
  memoryBytes: count,
  mode: z.enum(PAGING_MODES),
  vpid: z.boolean(),
  pcid: z.boolean(),
  threads: z
    .array(z.number().int().min(0))
    .max(MAX_HOST_VMS)
    .openapi({ description: "the host thread of each vCPU; empty when each vCPU has TLBs of its own" }),
  guestLevels: z.number().int(),
  eptLevels: z.number().int(),
  vcpus: z.number().int(),
  addressSpaces: count,
  backedBytes: count.openapi({ description: "guest-physical bytes with host frames behind them" }),
  touchedBytes: count.openapi({ description: "guest-physical bytes the guest has used" }),
  hugePageShare: z.number().openapi({ description: "share of backed bytes on 2 MiB or 1 GiB EPT leaves" }),
  eptLeaves: leaves,
  guestLeaves: leaves,
  pageTableBytes: z.object({ guest: count, ept: count, shadow: count }),
  hostFrames: count,
  tlb: z.object({
    hits: count,
    misses: count,
    hitRate: z.number(),
    secondLevelHits: count.openapi({ description: "hits the second-level TLB answered (part of hits)" }),
    flushes: count,
    invalidations: count,
  }),
  walks: z.object({
    count: count,
    memoryReferences: count,
    averageReferences: z.number(),
    pwcHits: count,
    nestedTlbHits: count,
  }),
  faults: z.object({ guestPageFaults: count, eptViolations: count, eptMisconfigurations: count }),
  vmExits: z.object({
    total: count,
    eptViolation: count,
    eptMisconfiguration: count,
    pageTableWrite: count,
    shadowPageFault: count,
    guestPageFault: count,
    cr3Write: count,
    invlpg: count,
  }),
  hypercalls: keyed(MMU_HYPERCALLS, count).openapi({
    description: "a paravirtual guest's entries into Xen for its page tables, in place of VM exits",
  }),
  pageTableUpdates: count.openapi({ description: "page-table entries written through mmu_update" }),
  invept: count,
  invvpid: count,
  remaps: count,
  workload: z
    .object({
      samples: count,
      seconds: count,
      sampledEvents: count,
      representedEvents: count.openapi({
        description:
          "the workload's events the sampled ones stand for: scale the counts above by this ÷ sampledEvents",
      }),
      dirtyPages: count,
    })
    .openapi("WorkloadSample"),
});
export type VmMemoryChecked = Assert<Mirrors<typeof VmMemory, VmMemoryModel>>;

export const VmMemorySummary = VmMemory.extend({ instanceId: InstanceId, hostId: HostId }).openapi(
  "VmMemorySummary",
);

/** The model's HostMemorySummary, field for field. */
const HostMemory = z.object({
  hostBytes: count,
  totalFrames: count,
  freeFrames: count,
  usedFrames: count,
  free2M: count,
  free1G: count,
  fragmentation: z.number().openapi({ description: "share of free memory that cannot back a 2 MiB page" }),
  owners: z
    .array(
      z.object({
        vmId: z
          .string()
          .max(19)
          .regex(/^(i-[0-9a-f]{17}|owner-\d{1,5})$/),
        frames: count,
        bytes: count,
      }),
    )
    .max(MAX_HOST_VMS),
});
export type HostMemoryChecked = Assert<Mirrors<typeof HostMemory, HostMemoryModel>>;

export const HostMemorySummary = HostMemory.extend({
  hostId: HostId,
  owners: HostMemory.shape.owners.max(MEMORY_OWNERS_MAX).openapi({
    description: `the ${MEMORY_OWNERS_MAX} largest owners of frames the caller may see by name, largest first`,
  }),
  ownerCount: count.openapi({
    description: "how many owners of frames the caller may see by name (owners lists the largest)",
  }),
  otherOwners: z
    .object({ vms: count, frames: count, bytes: count })
    .openapi({ description: "the owners of other accounts' VMs, which an account's key sees only together" }),
}).openapi("HostMemorySummary");
