// CPU virtualization model: VM exits and hypercalls, Nitro / Xen / Type 2 hosts, device offload and the host
// scheduler, behind one facade (HostCpu) a Host Durable Object can hold, snapshot and restore.

export { EBS_BURST_SECONDS, NETWORK_CREDIT_SECONDS } from "./allowance";
export {
  type CostOverrides,
  type CycleCosts,
  DEFAULT_COSTS,
  EXIT_REASONS,
  type ExitReason,
  HYPERCALLS,
  type Hypercall,
  PV_TRAPS,
  type PvTrap,
} from "./costs";
export { INTERVAL_MS } from "./counters";
export type { Backend, BlockPath, InstanceCaps, NetPath } from "./devices";
export { type EbsVolume, VOLUME_TYPES, type VolumeType } from "./ebs-volume";
export { type VmOptions, walkReferences } from "./guest";
export { CpuCapacityError, HostCpu, type TransferPrice } from "./host-cpu";
export {
  defaultOptimizations,
  type GuestMode,
  type HostDescription,
  type HypervisorKind,
  type Optimizations,
  PRIVILEGE_LEVELS,
  TRAITS,
} from "./hypervisor";
export {
  OPTIMIZATION_NAMES,
  type Recommendation,
  recommendOptimizations,
  trialOverheadPct,
} from "./optimizations";
export type { HostCpuSnapshot, VmCpuSnapshot } from "./snapshot";
export type {
  EbsAllowance,
  HostCpuSummary,
  HostThrottling,
  IoSplit,
  NetworkAllowance,
  VmCpuCounters,
} from "./summaries";
export {
  PROFILE_NAMES,
  PROFILES,
  type ProfileName,
  resolveWorkload,
  type WorkloadParams,
  type WorkloadSpec,
} from "./workload";
