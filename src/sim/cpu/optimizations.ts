// Recommends optimizations for a workload by trying them: each switch is flipped on a small trial host of
// the given kind and kept if the model says it lowers the cycles spent beyond native. No fixed table.
import type { InstanceCaps } from "./devices";
import { HostCpu } from "./host-cpu";
import { defaultOptimizations, type GuestMode, type HypervisorKind, type Optimizations } from "./hypervisor";
import type { WorkloadSpec } from "./workload";

export const OPTIMIZATION_NAMES = ["largePages", "cpuAffinity", "sriov", "ballooning", "pvDrivers"] as const;
export type OptimizationName = (typeof OPTIMIZATION_NAMES)[number];

export interface TrialOptions {
  /** Guest memory over host memory; above 1 the host is short of memory and ballooning can matter. */
  memoryOvercommit?: number;
  mode?: GuestMode;
  seconds?: number;
  seed?: number;
}

export interface SwitchEffect {
  /** Cycles beyond native work (hypervisor, dom0, backends, 2D walks) per cycle of native guest work, in %. */
  offPct: number;
  onPct: number;
  recommended: boolean;
  /** The switch changes nothing here (a PV guest's drivers are paravirtual already, say). */
  noEffect: boolean;
}

export interface Recommendation {
  kind: HypervisorKind;
  optimizations: Optimizations;
  effects: Record<OptimizationName, SwitchEffect>;
}

const TRIAL_CAPS: InstanceCaps = {
  vcpus: 4,
  memoryMiB: 16384,
  networkGbps: 10,
  ebsMbps: 4750,
  ebsIops: 20000,
};

/** Overhead of one trial run: what the host spent beyond the guest's native work, relative to that work. */
export function trialOverheadPct(
  kind: HypervisorKind,
  workload: WorkloadSpec,
  optimizations: Optimizations,
  trial: TrialOptions = {},
): number {
  const seconds = trial.seconds ?? 30;
  const overcommit = trial.memoryOvercommit ?? 1;
  const dom0MiB = kind === "xen" ? 4096 : 0;
  const host = new HostCpu({
    kind,
    sockets: 1,
    coresPerSocket: 4,
    threadsPerCore: 2,
    memoryMiB: overcommit > 1 ? TRIAL_CAPS.memoryMiB / overcommit + dom0MiB : 0,
    dom0: { vcpus: 2 },
    xenGuestMode: trial.mode,
    optimizations,
  });
  host.addVm("trial", TRIAL_CAPS, workload, trial.seed ?? 1);
  host.advance(seconds * 1000);
  const c = host.vmCounters("trial").cycles;
  const native = c.guest - c.translation;
  const beyond = c.hypervisor + c.dom0 + c.backend + c.translation;
  return native > 0 ? (100 * beyond) / native : 0;
}

export function recommendOptimizations(
  kind: HypervisorKind,
  workload: WorkloadSpec,
  trial: TrialOptions = {},
): Recommendation {
  const base = defaultOptimizations(kind);
  const effects = {} as Record<OptimizationName, SwitchEffect>;
  const chosen: Optimizations = { ...base };
  for (const name of OPTIMIZATION_NAMES) {
    const offPct = trialOverheadPct(kind, workload, { ...base, [name]: false }, trial);
    const onPct = trialOverheadPct(kind, workload, { ...base, [name]: true }, trial);
    // A switch has to earn its place: a change inside the trial's noise is not a reason to turn it on.
    const recommended = onPct < offPct * 0.99 - 0.01;
    const noEffect = Math.abs(onPct - offPct) <= Math.max(offPct, onPct) * 0.01 + 0.01;
    effects[name] = { offPct, onPct, recommended, noEffect };
    // Where the switch makes no difference, the hypervisor's own default stands.
    chosen[name] = recommended || (noEffect && base[name]);
  }
  return { kind, optimizations: chosen, effects };
}
