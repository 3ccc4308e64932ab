// What every vCPU scheduling policy takes and gives over one interval, so the host can hold any of them.

/** What a scheduler needs to know of a VM. */
export interface ScheduledVm {
  readonly caps: { readonly vcpus: number };
  /** Relative share under contention (Xen credit's 256 maps to 1). */
  readonly weight: number;
  /** Host thread of each vCPU, as admission pinned it. */
  readonly threads: readonly number[];
}

/** One interval's arrays, indexed like the VM list the scheduler was last given. */
export interface SchedulingRound {
  /** Cycles each VM's vCPUs want, all of them together. */
  readonly demand: Float64Array;
  /** Out, from zero: cycles each VM got. */
  readonly alloc: Float64Array;
  /** Out, from zero: of those, cycles got on threads others wanted too (they end in time-slice switches). */
  readonly contended: Float64Array;
}

export interface VcpuScheduler {
  readonly name: "pinned" | "credit" | "cfs";
  /** Called whenever a VM joins or leaves: the order of every later round's arrays. */
  setVms(vms: readonly ScheduledVm[]): void;
  /** Shares `capacity` cycles of the guest pool (what dom0 and host work left) among the round's demand. */
  share(round: SchedulingRound, capacity: number): void;
  /** Of a VM's context switches, how many resume its vCPU on another host thread. */
  migrations(switches: number): number;
}
