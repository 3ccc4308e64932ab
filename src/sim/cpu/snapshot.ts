// The CPU model's persisted state as plain JSON: each guest's PRNG, burst and memory state and counter
// history, and the host's. A change to these shapes needs a new version and a way to read the old one.
import type { Credits } from "./allowance";
import type { Hypercall } from "./costs";
import { CounterHistory, type HistorySnapshot } from "./counters";
import type { InstanceCaps } from "./devices";
import { GuestCpu, type GuestHost, type VmOptions } from "./guest";
import type { HostDescription } from "./hypervisor";
import type { WorkloadSpec } from "./workload";

/**
 * 2 added each VM's I/O credit balances; a version-1 snapshot restores with full buckets, as at launch.
 * 3 added the hypercalls the memory model charged for a VM's next interval; before it none are pending.
 */
export const HOST_CPU_SNAPSHOT_VERSION = 3;
const READABLE_VERSIONS: readonly number[] = [1, 2, HOST_CPU_SNAPSHOT_VERSION];

export interface VmCpuSnapshot {
  id: string;
  caps: InstanceCaps;
  spec: WorkloadSpec;
  seed: number;
  options: VmOptions;
  rngState: number;
  burstOn: boolean;
  backedPages: number;
  balloonedPages: number;
  threads: number[];
  history: HistorySnapshot;
  /** Absent in version 1. */
  credits?: Credits;
  /** Hypercalls another model charged for the next interval (version 3; none pending before it). */
  pendingHypercalls?: Partial<Record<Hypercall, number>>;
}

export interface HostCpuSnapshot {
  version: 1 | 2 | typeof HOST_CPU_SNAPSHOT_VERSION;
  host: HostDescription;
  nowMs: number;
  vms: VmCpuSnapshot[];
  history: HistorySnapshot;
}

/** `lean` keeps running totals and drops the per-second and per-minute rings. */
export function snapshotGuest(vm: GuestCpu, lean: boolean): VmCpuSnapshot {
  return {
    id: vm.id,
    caps: { ...vm.caps },
    spec: structuredClone(vm.spec),
    seed: vm.seed,
    options: { ...vm.options },
    rngState: vm.rng.state,
    burstOn: vm.burstOn,
    backedPages: vm.backedPages,
    balloonedPages: vm.balloonedPages,
    threads: [...vm.threads],
    history: vm.history.snapshot(lean),
    credits: { ...vm.credits },
    pendingHypercalls: { ...vm.pendingHypercalls },
  };
}

/** The guest as it was, on a host built from the same description. */
export function restoreGuest(v: VmCpuSnapshot, host: GuestHost): GuestCpu {
  const vm = new GuestCpu({ id: v.id, caps: v.caps, spec: v.spec, seed: v.seed, host, options: v.options });
  vm.rng.state = v.rngState;
  vm.burstOn = v.burstOn;
  vm.backedPages = v.backedPages;
  vm.balloonedPages = v.balloonedPages;
  vm.threads = [...v.threads];
  vm.history = CounterHistory.restore(v.history);
  if (v.credits) vm.credits = { ...v.credits };
  vm.chargeHypercalls(v.pendingHypercalls ?? {});
  return vm;
}

export function checkVersion(snap: HostCpuSnapshot): void {
  if (!READABLE_VERSIONS.includes(snap.version)) {
    throw new RangeError(`unknown HostCpu snapshot version ${String(snap.version)}`);
  }
}
