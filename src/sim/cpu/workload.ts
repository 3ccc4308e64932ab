// Workload profiles: per simulated interval, how much a guest computes and how many sensitive operations,
// memory events, packets and disk I/Os that work carries. Rates are estimates of the right order (unverified).
import type { Rng } from "./rng";

export const PROFILE_NAMES = ["cpu_intensive", "memory_intensive", "io_intensive", "idle", "bursty"] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

/** Events per second of busy vCPU time: they scale with how much the guest actually runs. */
export interface BusyRates {
  cpuid: number;
  msrRead: number;
  msrWrite: number;
  crAccess: number;
  ioInstruction: number;
  apicAccess: number;
  /** Guest timer interrupts (each re-armed through the TSC-deadline MSR). */
  timerInterrupts: number;
  syscalls: number;
  /** TLB misses that need a page walk, with 4 KiB pages (larger pages reach further: memory/workload.ts). */
  tlbMisses: number;
  /** First touches of guest-physical 4 KiB pages the host has not backed yet. */
  newPages: number;
  /** Writes to guest page-table entries (mmap, fork, munmap, page faults inside the guest). */
  ptUpdates: number;
  /**
   * Distinct 4 KiB pages referenced: what host swapping or a balloon can hit, and the working set whose
   * part beyond the TLB's reach sets how many accesses miss.
   */
  pageTouches: number;
}

export interface BurstParams {
  onUtilization: number;
  offUtilization: number;
  meanOnSec: number;
  meanOffSec: number;
}

export interface WorkloadParams {
  /** Mean fraction of each vCPU busy with the guest's own computation (I/O work comes on top). */
  utilization: number;
  /** Relative spread of the activity from one interval to the next. */
  jitter: number;
  burst: BurstParams | null;
  /** Share of the guest's computation spent in its kernel (ring 0). */
  kernelFraction: number;
  /** Share of its memory accesses that store, which the memory model's dirty log sees. */
  writeShare: number;
  perBusySecond: BusyRates;
  /** Wake-ups of an idle vCPU per second (timers, IPIs) besides I/O completions. */
  idleWakeupsPerSec: number;
  /**
   * Offered network load the guest sends, as a fraction of its type's baseline bandwidth (above 1 it needs
   * burst credits, or is throttled).
   */
  networkLoad: number;
  /** The same for what it receives: each direction has an allowance of its own (EC2 user guide). */
  networkInLoad: number;
  packetBytes: number;
  /** Offered storage load as a fraction of the instance's baseline EBS IOPS (or bandwidth, whichever binds). */
  storageLoad: number;
  ioBytes: number;
}

const BASE_RATES: BusyRates = {
  cpuid: 2,
  msrRead: 40,
  msrWrite: 20,
  crAccess: 10,
  ioInstruction: 0,
  apicAccess: 10,
  timerInterrupts: 250,
  syscalls: 2000,
  tlbMisses: 200_000,
  newPages: 200,
  ptUpdates: 2000,
  pageTouches: 2000,
};

// writeShare: about one memory access in three stores in typical integer code (Hennessy and Patterson's SPEC
// instruction mixes, unverified); more in a memory-bound guest, which fills what it allocates.
export const PROFILES: Record<ProfileName, WorkloadParams> = {
  cpu_intensive: {
    utilization: 0.95,
    jitter: 0.03,
    burst: null,
    kernelFraction: 0.05,
    writeShare: 0.3,
    perBusySecond: BASE_RATES,
    idleWakeupsPerSec: 20,
    networkLoad: 0.01,
    networkInLoad: 0,
    packetBytes: 1000,
    storageLoad: 0.01,
    ioBytes: 16384,
  },
  memory_intensive: {
    utilization: 0.85,
    jitter: 0.05,
    burst: null,
    kernelFraction: 0.1,
    writeShare: 0.4,
    perBusySecond: {
      ...BASE_RATES,
      syscalls: 5000,
      tlbMisses: 5_000_000,
      newPages: 20_000,
      ptUpdates: 50_000,
      pageTouches: 200_000,
    },
    idleWakeupsPerSec: 20,
    networkLoad: 0.02,
    networkInLoad: 0,
    packetBytes: 1000,
    storageLoad: 0.02,
    ioBytes: 16384,
  },
  io_intensive: {
    utilization: 0.15,
    jitter: 0.1,
    burst: null,
    kernelFraction: 0.6,
    writeShare: 0.3,
    perBusySecond: { ...BASE_RATES, syscalls: 50_000, tlbMisses: 500_000, newPages: 500, ptUpdates: 5000 },
    idleWakeupsPerSec: 20,
    networkLoad: 0.8,
    networkInLoad: 0,
    packetBytes: 1200,
    storageLoad: 0.7,
    ioBytes: 16384,
  },
  idle: {
    utilization: 0.01,
    jitter: 0.3,
    burst: null,
    kernelFraction: 0.5,
    writeShare: 0.3,
    perBusySecond: BASE_RATES,
    idleWakeupsPerSec: 10,
    networkLoad: 0.0005,
    networkInLoad: 0,
    packetBytes: 500,
    storageLoad: 0.0005,
    ioBytes: 4096,
  },
  bursty: {
    utilization: 0.3,
    jitter: 0.1,
    burst: { onUtilization: 0.9, offUtilization: 0.05, meanOnSec: 20, meanOffSec: 60 },
    kernelFraction: 0.2,
    writeShare: 0.3,
    perBusySecond: { ...BASE_RATES, syscalls: 10_000 },
    idleWakeupsPerSec: 20,
    networkLoad: 0.2,
    networkInLoad: 0,
    packetBytes: 1000,
    storageLoad: 0.1,
    ioBytes: 16384,
  },
};

/** A named profile, or custom parameters laid over one (cpu_intensive when no base is named). */
export type WorkloadSpec =
  | ProfileName
  | (Partial<Omit<WorkloadParams, "perBusySecond">> & {
      base?: ProfileName;
      perBusySecond?: Partial<BusyRates>;
    });

export function resolveWorkload(spec: WorkloadSpec): WorkloadParams {
  if (typeof spec === "string") {
    const named = PROFILES[spec];
    if (!named) throw new RangeError(`unknown workload profile: ${String(spec)}`);
    return named;
  }
  const { base, perBusySecond, ...rest } = spec;
  const from = PROFILES[base ?? "cpu_intensive"];
  const params: WorkloadParams = {
    ...from,
    ...rest,
    perBusySecond: { ...from.perBusySecond, ...perBusySecond },
  };
  validateWorkload(params);
  return params;
}

function validateWorkload(p: WorkloadParams): void {
  const fractions: [string, number][] = [
    ["utilization", p.utilization],
    ["kernelFraction", p.kernelFraction],
    ["writeShare", p.writeShare],
  ];
  for (const [name, v] of fractions) {
    if (!(v >= 0 && v <= 1)) throw new RangeError(`${name} must be within [0, 1]`);
  }
  const nonNegative: [string, number][] = [
    ["jitter", p.jitter],
    ["networkLoad", p.networkLoad],
    ["networkInLoad", p.networkInLoad],
    ["storageLoad", p.storageLoad],
    ["idleWakeupsPerSec", p.idleWakeupsPerSec],
    ...Object.entries(p.perBusySecond),
  ];
  for (const [name, v] of nonNegative) {
    if (!(v >= 0 && Number.isFinite(v))) throw new RangeError(`${name} must be a non-negative number`);
  }
  if (!(p.packetBytes >= 64) || !(p.ioBytes >= 512)) {
    throw new RangeError("packetBytes must be at least 64 and ioBytes at least 512");
  }
}

/** The burst chain's state, carried from one interval to the next. */
export interface BurstState {
  burstOn: boolean;
}

/**
 * The activity of one interval as a multiplier of the profile's mean (bursts and jitter), so that
 * computation and I/O rise and fall together. Advances the two-state Markov chain in `state`. The jitter
 * is scaled by `jitterScale`: 1 for one second, less for the average of several (sampleStretchActivity).
 */
export function sampleActivity(p: WorkloadParams, rng: Rng, state: BurstState, jitterScale = 1): number {
  const jitter = p.jitter * jitterScale;
  if (p.burst) {
    const b = p.burst;
    // Geometric holding times: leaving a state in a 1 s step has probability 1 / mean duration.
    if (rng.next() < 1 / (state.burstOn ? b.meanOnSec : b.meanOffSec)) state.burstOn = !state.burstOn;
    const u = state.burstOn ? b.onUtilization : b.offUtilization;
    return (u / Math.max(p.utilization, 1e-9)) * Math.max(0, 1 + jitter * rng.normal());
  }
  return Math.max(0, 1 + jitter * rng.normal());
}

/** Chance of leaving a burst state in a 1 s step, as sampleActivity draws it. */
function leaveChance(meanSec: number): number {
  const q = 1 / meanSec;
  return q > 0 ? Math.min(1, q) : 0;
}

/**
 * Moves the burst chain on by `seconds` one-second steps in one draw. A two-state chain that turns on with
 * chance a and off with chance b per step has P(on next) − π = (1 − a − b)(P(on now) − π), π = a / (a + b),
 * so after m steps P(on) = π + (s − π)(1 − a − b)^m, s = 1 if it started on. The state it ends in has the
 * law of `seconds` calls of sampleActivity, at a cost that does not grow with them.
 */
export function runBurstChain(p: WorkloadParams, rng: Rng, state: BurstState, seconds: number): void {
  const b = p.burst;
  if (!b || seconds <= 0) return;
  const on = leaveChance(b.meanOffSec);
  const off = leaveChance(b.meanOnSec);
  if (on + off === 0) return;
  const share = on / (on + off);
  const pOn = share + ((state.burstOn ? 1 : 0) - share) * (1 - on - off) ** seconds;
  state.burstOn = rng.next() < pOn;
}

/**
 * The activity of one second drawn from a stretch of `seconds`, the burst chain run through all of them:
 * the second sits at a uniformly drawn place in the stretch, so its burst state has the law of the
 * stretch's average share of burst time, whatever state the stretch began in. Its jitter is that of the
 * stretch's average: each second's is drawn on its own, so over `seconds` of them it shrinks by √seconds,
 * and a stretch counted `seconds` times spreads as the seconds it stands for would, not `seconds` times
 * as far.
 */
export function sampleStretchActivity(
  p: WorkloadParams,
  rng: Rng,
  state: BurstState,
  seconds: number,
): number {
  const jitterScale = 1 / Math.sqrt(Math.max(1, seconds));
  if (!p.burst) return sampleActivity(p, rng, state, jitterScale);
  const before = Math.floor(rng.next() * seconds);
  runBurstChain(p, rng, state, before);
  const activity = sampleActivity(p, rng, state, jitterScale);
  runBurstChain(p, rng, state, seconds - 1 - before);
  return activity;
}
