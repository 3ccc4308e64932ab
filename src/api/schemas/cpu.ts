// The CPU model's figures as the API shows them: a VM's exits, hypercalls and cycles, a
// host's CPU summary, the optimization switches and what each one is worth.
import { z } from "@hono/zod-openapi";
import {
  type BlockPath,
  EXIT_REASONS,
  type HostCpuSummary as HostCpuModel,
  HYPERCALLS,
  type NetPath,
  OPTIMIZATION_NAMES,
  type Optimizations as OptimizationsModel,
  PV_TRAPS,
  type Recommendation as RecommendationModel,
  type VmCpuCounters as VmCpuModel,
  VOLUME_TYPES,
} from "../../sim/cpu";
import { HostId, Hypervisor, InstanceId } from "./common";
import { type Assert, keyed, type Mirrors } from "./exact";

const count = z.number();

/** Every switch, on or off: what a host runs with, or what a recommendation chooses. */
export const Optimizations = keyed(OPTIMIZATION_NAMES, z.boolean()).openapi("Optimizations");
export type OptimizationsChecked = Assert<Mirrors<typeof Optimizations, OptimizationsModel>>;

/** The switches a new host sets; the others keep the hypervisor's defaults. */
export const OptimizationOverrides = Optimizations.partial().strict().openapi("OptimizationOverrides");
export type OptimizationOverridesChecked = Assert<
  Mirrors<typeof OptimizationOverrides, Partial<OptimizationsModel>>
>;

export const ExitCounts = keyed(EXIT_REASONS, count).openapi("ExitCounts", {
  description: "VM exits (or entries) by basic exit reason",
});
export const HypercallCounts = keyed(HYPERCALLS, count).openapi("HypercallCounts");
export const PvTrapCounts = keyed(PV_TRAPS, count).openapi("PvTrapCounts");

export const VmCycles = z
  .object({
    capacity: count.openapi({ description: "vCPUs × clock × time: guest + hypervisor + steal + idle" }),
    guest: count,
    guestKernel: count,
    guestUser: count,
    translation: count.openapi({ description: "guest cycles spent on the extra references of 2D walks" }),
    hypervisor: count,
    steal: count,
    idle: count,
    dom0: count.openapi({ description: "on this VM's behalf in dom0, on dom0's threads" }),
    backend: count.openapi({ description: "on this VM's behalf in host backends (vhost, a device model)" }),
  })
  .openapi("VmCycles");

const netPaths = ["ena", "sriov_vf", "virtio", "netfront", "emulated"] as const;
const blockPaths = ["nvme_card", "virtio_blk", "blkfront", "emulated"] as const;
export type NetPathChecked = Assert<Mirrors<z.ZodEnum<{ [K in (typeof netPaths)[number]]: K }>, NetPath>>;
export type BlockPathChecked = Assert<
  Mirrors<z.ZodEnum<{ [K in (typeof blockPaths)[number]]: K }>, BlockPath>
>;

const InOut = z.object({ in: count, out: count }).openapi("InOut");
const pct = z.number().nullable();

export const NetworkAllowance = z
  .object({
    baselineGbps: z.number().openapi({ description: "bandwidth in each direction, sustained" }),
    burstGbps: z.number().openapi({ description: "the 'up to' figure, while network I/O credits last" }),
    packetsPerSecond: z
      .number()
      .nullable()
      .openapi({ description: "both directions together; null where the type has no limit of its own" }),
    offeredBytes: InOut,
    bytes: InOut,
    packets: InOut,
    bwInAllowanceExceeded: count.openapi({
      description: "packets held back by the inbound bandwidth allowance (ENA's bw_in_allowance_exceeded)",
    }),
    bwOutAllowanceExceeded: count.openapi({ description: "ENA's bw_out_allowance_exceeded" }),
    ppsAllowanceExceeded: count.openapi({ description: "ENA's pps_allowance_exceeded" }),
    throttledSeconds: count,
    creditBalancePct: z.object({ in: pct, out: pct }).openapi({
      description: "network I/O credits left now; null for a type that does not burst",
    }),
  })
  .openapi("NetworkAllowance");

export const EbsAllowance = z
  .object({
    baselineMbps: z.number(),
    maxMbps: z.number(),
    baselineIops: z.number(),
    maxIops: z.number(),
    volume: z
      .object({ type: z.enum(VOLUME_TYPES), iops: z.number(), throughputMiBps: z.number().nullable() })
      .nullable()
      .openapi({
        description: "the volume's limits on this platform (io2: 256,000 IOPS on Nitro, 32,000 on Xen)",
      }),
    offeredIos: count,
    offeredBytes: count,
    bytes: count,
    instanceIopsExceeded: count.openapi({ description: "I/Os held back by the instance's IOPS limit" }),
    instanceThroughputExceeded: count,
    volumeIopsExceeded: count,
    volumeThroughputExceeded: count,
    throttledSeconds: count,
    ioBalancePct: pct.openapi({
      description: "CloudWatch's EBSIOBalance%; null for a type that does not burst",
    }),
    byteBalancePct: pct.openapi({ description: "CloudWatch's EBSByteBalance%" }),
  })
  .openapi("EbsAllowance");

export const VmIo = z
  .object({
    networkPath: z.enum(netPaths),
    storagePath: z.enum(blockPaths),
    packets: count,
    packetsThrottled: count,
    diskIos: count,
    diskIosThrottled: count,
    packetsInHardware: count.openapi({ description: "handled by a Nitro card or an SR-IOV function" }),
    iosInHardware: count,
    cardBusyMs: z.number().openapi({ description: "time the card spent on them, on its own processors" }),
    network: NetworkAllowance,
    ebs: EbsAllowance,
  })
  .openapi("VmIo");

/** The model's VmCpuCounters, field for field. */
const VmCpu = z.object({
  vmId: InstanceId,
  mode: z.enum(["pv", "hvm"]),
  windowMs: z.number().openapi({ description: "Simulated time the figures cover" }),
  vmExits: ExitCounts,
  vmEntries: ExitCounts,
  totalExits: count,
  hypercalls: HypercallCounts,
  pvTraps: PvTrapCounts,
  cycles: VmCycles,
  overheadPct: z.number(),
  stealPct: z.number(),
  contextSwitches: count,
  vcpuMigrations: count,
  io: VmIo,
  memory: z
    .object({ swapFaults: count, balloonedPages: count, backedPages: count })
    .openapi("VmMemoryPressure"),
});
export type VmCpuChecked = Assert<Mirrors<typeof VmCpu, VmCpuModel>>;

export const CpuCounters = VmCpu.extend({
  instanceId: InstanceId,
  hostId: HostId,
  hypervisor: Hypervisor,
}).openapi("CpuCounters");

export const HostCycles = z
  .object({
    capacity: count.openapi({ description: "threads × clock × time" }),
    guest: count,
    hypervisor: count,
    backend: count,
    dom0: count,
    hostOs: count,
    idle: count,
    steal: count.openapi({ description: "what vCPUs wanted and did not get (not a use of host cycles)" }),
    reservedForDom0: count,
  })
  .openapi("HostCycles");

const IoSplit = z
  .object({ total: count, inHardware: count, onHostCpu: count, viaDom0: count })
  .openapi("IoSplit");

export const HostThrottling = z
  .object({
    bwInAllowanceExceeded: count,
    bwOutAllowanceExceeded: count,
    ppsAllowanceExceeded: count,
    networkThrottledVmSeconds: count,
    ebsIopsExceeded: count,
    ebsThroughputExceeded: count,
    volumeIopsExceeded: count,
    volumeThroughputExceeded: count,
    ebsThrottledVmSeconds: count,
  })
  .openapi("HostThrottling", { description: "what the instances' I/O allowances held back, over all VMs" });

export const IoOffload = z
  .object({
    network: IoSplit,
    storage: IoSplit,
    hardwareSharePct: z.number(),
    hostIoCycles: count,
    cardBusyMs: z.number().openapi({ description: "time the cards spent on guest I/O, off the host CPU" }),
    throttling: HostThrottling,
  })
  .openapi("IoOffload");

export const HostFeatures = z
  .object({
    ioOffloadCards: z.boolean(),
    securityChip: z.boolean(),
    scheduler: z.enum(["pinned", "credit", "cfs"]),
  })
  .openapi("HostFeatures");

/** The model's HostCpuSummary, field for field; a host's answer shows part of it. */
export const HostCpuSummary = z.object({
  kind: Hypervisor,
  threads: count,
  vms: count,
  vcpusAllocated: count,
  vcpuLimit: count,
  windowMs: z.number(),
  cycles: HostCycles,
  hypervisorOverheadPct: z
    .number()
    .openapi({ description: "Host CPU used outside the guests, % of all used" }),
  utilizationPct: z.number(),
  offload: IoOffload,
  features: HostFeatures,
});
export type HostCpuChecked = Assert<Mirrors<typeof HostCpuSummary, HostCpuModel>>;

export const SwitchEffect = z
  .object({
    offPct: z.number(),
    onPct: z.number(),
    recommended: z.boolean(),
    noEffect: z.boolean().openapi({ description: "the switch changes nothing here" }),
  })
  .openapi("SwitchEffect");

export const Recommendation = z
  .object({
    kind: Hypervisor,
    optimizations: Optimizations,
    effects: keyed(OPTIMIZATION_NAMES, SwitchEffect).openapi("SwitchEffects"),
  })
  .openapi("Recommendation");
export type RecommendationChecked = Assert<Mirrors<typeof Recommendation, RecommendationModel>>;
