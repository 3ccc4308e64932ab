// Xen's pre-copy as xc_linux_save ran it (tools/libxc/xc_linux_save.c, Xen 3.0): the last iteration
// starts once 29 iterations have run (DEF_MAX_ITERS), more than 3x memory has been sent
// (DEF_MAX_FACTOR), or fewer than 50 pages were dirtied in the last one. Its rate is Clark et al.'s
// dynamic rate limit (NSDI 2005, section 5.1): the first round at the minimum, each later round at the
// previous round's dirtying rate plus 50 Mbit/s, pre-copy ending when that exceeds the maximum (and,
// in the code, when a round at the maximum sent more than the one before). The evaluation used 100
// and 500 Mbit/s as the bounds. The last iteration is not rate-limited: it runs at the wire's speed
// (the paper's SPECweb99 run sent 18.2 MB in its last round within 210 ms of downtime, which 500 Mbit/s
// could not carry).

import { type Decision, MBIT, type MigrationPolicy, type RoundView } from "./policy";

export interface XenPolicyOptions {
  minMbps: number;
  maxMbps: number;
  incrementMbps: number;
  maxIterations: number;
  maxFactor: number;
  minDirtyPages: number;
}

export const XEN_DEFAULTS: XenPolicyOptions = {
  minMbps: 100,
  maxMbps: 500,
  incrementMbps: 50,
  maxIterations: 29,
  maxFactor: 3,
  minDirtyPages: 50,
};

export class XenPolicy implements MigrationPolicy {
  readonly name = "xen";
  readonly opts: XenPolicyOptions;
  private previousSent: number | null = null;

  constructor(opts: Partial<XenPolicyOptions> = {}) {
    this.opts = { ...XEN_DEFAULTS, ...opts };
    if (!(this.opts.minMbps > 0 && this.opts.maxMbps >= this.opts.minMbps))
      throw new RangeError("the Xen rate bounds must satisfy 0 < minMbps <= maxMbps");
  }

  /** The dirtying rate of a round plus the increment, in Mbit/s, before the bounds. */
  private nextMbps(v: RoundView): number {
    const dirtyMbps = (v.dirtyPages * v.pageBytes * 8) / (v.durationMs / 1000) / MBIT;
    return dirtyMbps + this.opts.incrementMbps;
  }

  roundRate(round: number, previous: RoundView | null): number {
    if (round === 0 || previous === null) return this.opts.minMbps * MBIT;
    const mbps = Math.min(this.opts.maxMbps, Math.max(this.opts.minMbps, this.nextMbps(previous)));
    return mbps * MBIT;
  }

  afterRound(v: RoundView): Decision {
    const o = this.opts;
    if (v.dirtyPages < o.minDirtyPages)
      return {
        kind: "stop-and-copy",
        reason: `fewer than ${o.minDirtyPages} pages dirtied in round ${v.round}`,
        converged: true,
      };
    if (v.round + 1 >= o.maxIterations)
      return { kind: "stop-and-copy", reason: `${o.maxIterations} iterations run`, converged: false };
    if (v.totalPagesSent > o.maxFactor * v.memoryPages)
      return { kind: "stop-and-copy", reason: `more than ${o.maxFactor}x memory sent`, converged: false };
    if (v.rateBps >= o.maxMbps * MBIT && this.previousSent !== null && v.pagesSent > this.previousSent)
      return {
        kind: "stop-and-copy",
        reason: `a round at ${o.maxMbps} Mbit/s sent more than the one before`,
        converged: false,
      };
    this.previousSent = v.pagesSent;
    if (v.durationMs > 0 && this.nextMbps(v) > o.maxMbps)
      return {
        kind: "stop-and-copy",
        reason: `the dirtying rate needs more than ${o.maxMbps} Mbit/s`,
        converged: false,
      };
    return { kind: "continue" };
  }

  stopRate(): number {
    return Number.POSITIVE_INFINITY;
  }

  throttle(): number {
    return 0;
  }
}
