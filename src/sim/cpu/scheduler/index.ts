// vCPU scheduling policies, one class each, and the choice of one for a host.
import type { HypervisorTraits, ResolvedHost } from "../hypervisor";
import { PinnedScheduler } from "./pinned";
import { CfsScheduler, CreditScheduler } from "./pooled";
import type { VcpuScheduler } from "./types";

export { PinMap } from "./pin-map";
export { PinnedScheduler } from "./pinned";
export { CfsScheduler, CreditScheduler } from "./pooled";
export type { ScheduledVm, SchedulingRound, VcpuScheduler } from "./types";
export { waterfill } from "./waterfill";

/**
 * Pinned vCPUs where the host sets CPU affinity (Nitro's default); otherwise the hypervisor's own pool
 * scheduler: credit on Xen, CFS on the KVM-based and hosted kinds.
 */
export function schedulerFor(
  host: ResolvedHost,
  traits: HypervisorTraits,
  poolThreads: number,
): VcpuScheduler {
  if (host.optimizations.cpuAffinity) return new PinnedScheduler(host.threads, poolThreads);
  return traits.schedulerName === "credit" ? new CreditScheduler(poolThreads) : new CfsScheduler(poolThreads);
}
