// What a pre-copy stop policy sees after each round and what it may decide. The policies themselves
// are siblings: xen-policy.ts (xc_linux_save with Clark et al.'s rate adaptation) and qemu-policy.ts.

/** A pre-copy round as the policy sees it when the round has ended. */
export interface RoundView {
  /** 0-based; round 0 sent the whole of memory. */
  round: number;
  pagesSent: number;
  durationMs: number;
  /** The rate the round was sent at, in bits per second. */
  rateBps: number;
  /** Pages the guest dirtied during the round: what the next round (or the stop-and-copy) must send. */
  dirtyPages: number;
  /** Pages sent so far, this round included. */
  totalPagesSent: number;
  memoryPages: number;
  pageBytes: number;
}

export type Decision =
  | { kind: "continue" }
  /** Pause the guest and send what is left (then CPU and device state). */
  | { kind: "stop-and-copy"; reason: string; converged: boolean }
  /** Switch to the destination now and pull what is left from there (post-copy). */
  | { kind: "postcopy"; reason: string }
  /** Give up: the guest keeps running on the source. */
  | { kind: "abort"; reason: string };

export interface MigrationPolicy {
  readonly name: "xen" | "qemu";
  /** The rate limit for round `round`, in bits per second, given the previous round (null for round 0). */
  roundRate(round: number, previous: RoundView | null): number;
  /** Decides after each round; may change the guest's throttle. */
  afterRound(view: RoundView): Decision;
  /** The rate the stop-and-copy sends at, in bits per second. */
  stopRate(): number;
  /** The share of the guest's vCPU time taken from it now (auto-converge), 0..1. */
  throttle(): number;
}

export const MBIT = 1_000_000;
export const MIB = 1024 * 1024;
