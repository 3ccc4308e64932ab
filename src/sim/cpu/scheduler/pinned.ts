// Nitro's scheduling (and cpuAffinity elsewhere): every vCPU hard-pinned to one host thread.
import type { ScheduledVm, SchedulingRound, VcpuScheduler } from "./types";
import { waterfill } from "./waterfill";

/**
 * Each vCPU runs only on the thread admission pinned it to, so only threads that overcommit shares need
 * sharing out, and a pinned vCPU never migrates.
 *
 * What it oversimplifies: a VM's demand is split evenly over its vCPUs; every pool thread has the same
 * capacity, whatever its hyper-thread sibling is doing (no SMT or NUMA effects); a shared thread is split
 * max-min fairly by weight at the fluid limit, as if time slices were infinitely fine, and the cost of the
 * slices is charged afterwards, per slice, by the host.
 */
export class PinnedScheduler implements VcpuScheduler {
  readonly name = "pinned";
  declare private readonly threads: number;
  declare private readonly poolThreads: number;
  private vms: readonly ScheduledVm[] = [];
  /** Indices of the VMs with a vCPU on each host thread (a VM twice if two of its vCPUs share one). */
  private byThread: number[][] = [];
  // Scratch for one shared thread, grown when more vCPUs than this share one.
  private d = new Float64Array(8);
  private w = new Float64Array(8);
  private m = new Float64Array(8);
  private out = new Float64Array(8);

  /** `poolThreads` of the host's `threads` run guests (dom0 may own the others). */
  constructor(threads: number, poolThreads: number) {
    this.threads = threads;
    this.poolThreads = poolThreads;
  }

  setVms(vms: readonly ScheduledVm[]): void {
    this.vms = vms;
    this.byThread = Array.from({ length: this.threads }, () => []);
    vms.forEach((vm, i) => {
      for (const t of vm.threads) this.byThread[t].push(i);
    });
  }

  share(round: SchedulingRound, capacity: number): void {
    const vms = this.vms;
    const { demand, alloc, contended } = round;
    const threadCap = capacity / this.poolThreads;
    for (const on of this.byThread) {
      if (on.length === 0) continue;
      if (on.length === 1) {
        const i = on[0];
        const want = demand[i] / vms[i].caps.vcpus;
        const got = Math.min(want, threadCap);
        alloc[i] += got;
        if (want > threadCap) contended[i] += got;
        continue;
      }
      const k = on.length;
      if (k > this.d.length) {
        this.d = new Float64Array(k);
        this.w = new Float64Array(k);
        this.m = new Float64Array(k);
        this.out = new Float64Array(k);
      }
      const { d, w, m, out } = this;
      for (let j = 0; j < k; j++) {
        const i = on[j];
        d[j] = demand[i] / vms[i].caps.vcpus;
        w[j] = vms[i].weight;
        m[j] = 1;
      }
      const busy = waterfill(k, d, w, m, threadCap, out);
      for (let j = 0; j < k; j++) {
        alloc[on[j]] += out[j];
        if (busy) contended[on[j]] += out[j];
      }
    }
  }

  migrations(): number {
    return 0;
  }
}
