// The CPU model's persisted state as plain JSON: each guest's PRNG, burst and memory state and counter
// history, and the host's. A change to these shapes needs a new version and a way to read the old one.
import type { HostMemorySnapshot } from "../memory";
import type { Credits } from "./allowance";
import type { Hypercall } from "./costs";
import { CounterHistory, type HistorySnapshot, plainArray } from "./counters";
import type { InstanceCaps } from "./devices";
import { GuestCpu, type GuestHost, type VmOptions } from "./guest";
import type { HostDescription } from "./hypervisor";
import type { WorkloadSpec } from "./workload";

/**
 * 2 added each VM's I/O credit balances; a version-1 snapshot restores with full buckets, as at launch.
 * 3 added the hypercalls the memory model charged for a VM's next interval; before it none are pending.
 * 4 added each VM's pending memory events and memory-side PRNG, and the model's own memory model; before
 * it none are pending, the PRNG starts from the seed and a model without a host's memory starts afresh.
 */
export const HOST_CPU_SNAPSHOT_VERSION = 4;
const READABLE_VERSIONS: readonly number[] = [1, 2, 3, HOST_CPU_SNAPSHOT_VERSION];

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
  /** The workload's memory events waiting for the next sample (GuestCpu.memoryPending); absent means none. */
  memoryPending?: number[];
  /** State of the guest's memory-side PRNG; absent, it starts from the seed. */
  memoryRngState?: number;
  /**
   * A lean snapshot's stand-in for a memory model of the CPU model's own: the workload's tallies, which
   * price its events (memory/workload.ts). The tables are left out; the restored guest's start afresh.
   */
  memoryWorkload?: number[];
}

export interface HostCpuSnapshot {
  version: 1 | 2 | 3 | typeof HOST_CPU_SNAPSHOT_VERSION;
  host: HostDescription;
  nowMs: number;
  vms: VmCpuSnapshot[];
  history: HistorySnapshot;
  /** The model's own memory model (full snapshots of a model without a host's), as JSON (`encodeMemory`). */
  memory?: unknown;
}

const TYPED = { Float64Array, Int32Array, Uint16Array, Uint8Array } as const;
type TypedName = keyof typeof TYPED;

/** A memory snapshot as plain JSON: each typed array becomes `{ $typed, values }`. */
export function encodeMemory(snap: HostMemorySnapshot): unknown {
  const encode = (v: unknown): unknown => {
    if (ArrayBuffer.isView(v)) {
      const name = v.constructor.name;
      if (!(name in TYPED)) throw new TypeError(`cannot encode a ${name}`);
      return { $typed: name, values: Array.from(v as Float64Array) };
    }
    if (Array.isArray(v)) return v.map(encode);
    if (v !== null && typeof v === "object") {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, encode(x)]));
    }
    return v;
  };
  return encode(snap);
}

export function decodeMemory(json: unknown): HostMemorySnapshot {
  const decode = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(decode);
    if (v !== null && typeof v === "object") {
      const o = v as { $typed?: TypedName; values?: number[] };
      if (o.$typed !== undefined && o.values !== undefined) return TYPED[o.$typed].from(o.values);
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decode(x)]));
    }
    return v;
  };
  return decode(json) as HostMemorySnapshot;
}

/** `lean` keeps running totals and drops the per-second and per-minute rings. */
export function snapshotGuest(vm: GuestCpu, lean: boolean): VmCpuSnapshot {
  return {
    id: vm.id,
    caps: { ...vm.caps },
    // A profile's name is a string, which needs no copy (and structuredClone costs more than the rest).
    spec: typeof vm.spec === "string" ? vm.spec : structuredClone(vm.spec),
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
    memoryPending: plainArray(vm.memoryPending, vm.memoryPending.length),
    memoryRngState: vm.memoryRng.state,
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
  if (v.memoryPending) vm.memoryPending.set(v.memoryPending);
  if (v.memoryRngState !== undefined) vm.memoryRng.state = v.memoryRngState;
  return vm;
}

export function checkVersion(snap: HostCpuSnapshot): void {
  if (!READABLE_VERSIONS.includes(snap.version)) {
    throw new RangeError(`unknown HostCpu snapshot version ${String(snap.version)}`);
  }
}
