// Pooled scheduling: any vCPU on any pool thread, as Xen's credit scheduler and Linux CFS run them.
import type { ScheduledVm, SchedulingRound, VcpuScheduler } from "./types";
import { waterfill } from "./waterfill";

/** Of the switches of an unpinned vCPU, the share that resume on another thread (CFS wake affinity keeps most home). */
const MIGRATING_SHARE = 0.3;

/**
 * The pool's threads are one queue: every vCPU of every VM competes for all of them, and the pool is shared
 * max-min fairly by weight. Subclasses say how a VM's weight reaches its vCPUs.
 *
 * What it oversimplifies: shares are the fluid fair allocation the scheduler converges to over many slices,
 * not slice by slice; it is work-conserving with no caps or reservations; a VM's demand is split evenly
 * over its vCPUs; a fixed share of switches lands on another thread, whatever the topology.
 */
abstract class PooledScheduler implements VcpuScheduler {
  abstract readonly name: "credit" | "cfs";
  protected vms: readonly ScheduledVm[] = [];
  declare private readonly poolThreads: number;

  constructor(poolThreads: number) {
    this.poolThreads = poolThreads;
  }

  /** Weight of each of the VM's vCPUs. */
  protected abstract vcpuWeight(vm: ScheduledVm): number;

  setVms(vms: readonly ScheduledVm[]): void {
    this.vms = vms;
  }

  share(round: SchedulingRound, capacity: number): void {
    const vms = this.vms;
    const n = vms.length;
    const { demand, alloc, contended } = round;
    const d = new Float64Array(n);
    const w = new Float64Array(n);
    const m = new Float64Array(n);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const v = vms[i].caps.vcpus;
      d[i] = demand[i] / v;
      w[i] = this.vcpuWeight(vms[i]);
      m[i] = v;
    }
    const busy = waterfill(n, d, w, m, capacity, out);
    for (let i = 0; i < n; i++) {
      alloc[i] = out[i] * m[i];
      if (busy) contended[i] = alloc[i];
    }
  }

  migrations(switches: number): number {
    return Math.round(switches * MIGRATING_SHARE * (1 - 1 / this.poolThreads));
  }
}

/**
 * Xen's credit scheduler: a domain's weight is split among its vCPUs, so a domain with more vCPUs gets no
 * more under contention than its weight says.
 *
 * What it oversimplifies, beyond the pool's: no 10 ms credit accounting ticks, no BOOST, UNDER and OVER
 * priorities (a waking I/O-bound vCPU is not boosted ahead), no per-domain caps.
 */
export class CreditScheduler extends PooledScheduler {
  readonly name = "credit";

  protected vcpuWeight(vm: ScheduledVm): number {
    return vm.weight / vm.caps.vcpus;
  }
}

/**
 * Linux CFS under a KVM-based or hosted hypervisor: each vCPU is a thread of the host, weighed on its own,
 * so a VM with more vCPUs gets more under contention.
 *
 * What it oversimplifies, beyond the pool's: no virtual-runtime ordering, wake-up preemption or latency
 * targets; no cgroup hierarchy grouping a VM's threads.
 */
export class CfsScheduler extends PooledScheduler {
  readonly name = "cfs";

  protected vcpuWeight(vm: ScheduledVm): number {
    return vm.weight;
  }
}
