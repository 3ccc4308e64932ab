// QEMU's pre-copy (migration/migration.c, migration/ram.c): every round sends the dirty pages at
// max-bandwidth (default 128 MiB/s), and the guest switches over once what is pending fits
// bandwidth x downtime-limit (default 300 ms). Auto-converge throttles the vCPUs when a round
// dirtied more than throttle-trigger-threshold (50%) of what it sent, twice in a row: first by
// cpu-throttle-initial (20%), then by cpu-throttle-increment (10%) more each time, up to
// max-cpu-throttle (99%). QEMU itself never gives up; `giveUpRounds` is the operator's patience,
// after which the migration switches to post-copy (migrate-start-postcopy) if allowed, else aborts.

import { type Decision, MIB, type MigrationPolicy, type RoundView } from "./policy";

export interface QemuPolicyOptions {
  maxBandwidthBps: number;
  downtimeLimitMs: number;
  autoConverge: boolean;
  throttleInitialPct: number;
  throttleIncrementPct: number;
  throttleMaxPct: number;
  throttleTriggerThresholdPct: number;
  /** Switch to post-copy instead of aborting when the rounds run out. */
  postcopy: boolean;
  giveUpRounds: number;
}

export const QEMU_DEFAULTS: QemuPolicyOptions = {
  maxBandwidthBps: 128 * MIB * 8,
  downtimeLimitMs: 300,
  autoConverge: false,
  throttleInitialPct: 20,
  throttleIncrementPct: 10,
  throttleMaxPct: 99,
  throttleTriggerThresholdPct: 50,
  postcopy: false,
  giveUpRounds: 30,
};

export class QemuPolicy implements MigrationPolicy {
  readonly name = "qemu";
  readonly opts: QemuPolicyOptions;
  private throttlePct = 0;
  private dirtyRateHighCount = 0;
  private bandwidthBps: number;

  /** `linkBps` caps max-bandwidth: QEMU cannot send faster than the wire. */
  constructor(opts: Partial<QemuPolicyOptions> = {}, linkBps = Number.POSITIVE_INFINITY) {
    this.opts = { ...QEMU_DEFAULTS, ...opts };
    if (!(this.opts.maxBandwidthBps > 0)) throw new RangeError("maxBandwidthBps must be positive");
    if (!(this.opts.downtimeLimitMs >= 0)) throw new RangeError("downtimeLimitMs must be non-negative");
    this.bandwidthBps = Math.min(this.opts.maxBandwidthBps, linkBps);
  }

  roundRate(): number {
    return this.bandwidthBps;
  }

  /** QEMU's threshold: what it can send within the downtime limit. */
  thresholdBytes(): number {
    return (this.bandwidthBps / 8) * (this.opts.downtimeLimitMs / 1000);
  }

  afterRound(v: RoundView): Decision {
    const pending = v.dirtyPages * v.pageBytes;
    if (pending <= this.thresholdBytes())
      return {
        kind: "stop-and-copy",
        reason: `pending ${pending} bytes fit ${this.opts.downtimeLimitMs} ms at the bandwidth`,
        converged: true,
      };
    if (this.opts.autoConverge) this.maybeThrottle(v);
    if (v.round + 1 >= this.opts.giveUpRounds) {
      const reason = `did not converge in ${this.opts.giveUpRounds} rounds`;
      return this.opts.postcopy ? { kind: "postcopy", reason } : { kind: "abort", reason };
    }
    return { kind: "continue" };
  }

  private maybeThrottle(v: RoundView): void {
    const dirtied = v.dirtyPages * v.pageBytes;
    const sent = v.pagesSent * v.pageBytes;
    if (dirtied <= (sent * this.opts.throttleTriggerThresholdPct) / 100) return;
    this.dirtyRateHighCount++;
    if (this.dirtyRateHighCount < 2) return;
    this.dirtyRateHighCount = 0;
    this.throttlePct =
      this.throttlePct === 0
        ? this.opts.throttleInitialPct
        : Math.min(this.opts.throttleMaxPct, this.throttlePct + this.opts.throttleIncrementPct);
  }

  stopRate(): number {
    return this.bandwidthBps;
  }

  throttle(): number {
    return this.throttlePct / 100;
  }

  /** query-migrate's expected-downtime: what is pending, at the bandwidth. */
  expectedDowntimeMs(pendingBytes: number): number {
    return (pendingBytes * 8 * 1000) / this.bandwidthBps;
  }
}
