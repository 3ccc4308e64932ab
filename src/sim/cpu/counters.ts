// Per-interval counter records laid out in typed arrays, and the windows kept of them: the last 60
// one-second intervals, the last 60 minutes, and the running total, so a window query is a few sums.
import { EXIT_REASONS, HYPERCALLS, PV_TRAPS } from "./costs";

/** The model's step: every record covers one interval of simulated time. */
export const INTERVAL_MS = 1000;

/** Constructor of the index tables only, so they get hidden classes of their own (see indexTable). */
class FieldIndex {}

/**
 * Field offsets by name, from `from` on, for the hot paths to read as constants. The table is an instance
 * of its own class on purpose: a plain object with the same keys in the same order shares its hidden class
 * with every record built alike (a counters answer keyed by exit reason, say), and one such record holding
 * non-integers generalizes the shared fields, after which every read of an offset here is a slow load
 * (measured: 3 to 4 times slower steps after one counters query). The offsets are defined, not assigned:
 * V8 turns an object given more than about two dozen properties by computed-key stores into a dictionary,
 * and every read of it into a lookup (measured: steps twice as slow with 36 VM scalars).
 */
export function indexTable<K extends string>(names: readonly K[], from: number): Readonly<Record<K, number>> {
  const table = new FieldIndex() as Record<K, number>;
  names.forEach((n, i) => {
    Object.defineProperty(table, n, {
      value: from + i,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  });
  return table;
}

const SCALARS = [
  "capacityCycles",
  "guestCycles",
  "guestKernelCycles",
  "translationCycles",
  "vmmCycles",
  "stealCycles",
  "idleCycles",
  "dom0Cycles",
  "backendCycles",
  "contextSwitches",
  "vcpuMigrations",
  "packets",
  "packetsThrottled",
  "diskIos",
  "diskIosThrottled",
  "cardPackets",
  "cardIos",
  "dom0Hypercalls",
  "swapFaults",
  // What the instance's allowances let through and held back (allowance.ts): packets is packetsIn plus
  // the outbound ones, diskIos what EBS took; bytes delivered and offered in each direction.
  "packetsIn",
  "bytesIn",
  "bytesOut",
  "bytesInOffered",
  "bytesOutOffered",
  "bwInAllowanceExceeded",
  "bwOutAllowanceExceeded",
  "ppsAllowanceExceeded",
  "netThrottledSeconds",
  "ebsBytes",
  "ebsBytesOffered",
  "ebsIopsExceeded",
  "ebsThroughputExceeded",
  "volumeIopsExceeded",
  "volumeThroughputExceeded",
  "ebsThrottledSeconds",
  // Time the Nitro card or SR-IOV NIC spent on this VM's I/O, in ns: the card's own, not host CPU.
  "cardNs",
] as const;
export type Scalar = (typeof SCALARS)[number];

export const EXIT0 = 0;
export const HC0 = EXIT0 + EXIT_REASONS.length;
export const TRAP0 = HC0 + HYPERCALLS.length;
const SCALAR0 = TRAP0 + PV_TRAPS.length;
export const VM_FIELDS = SCALAR0 + SCALARS.length;

/** Index of each scalar in a VM record. */
export const F = indexTable(SCALARS, SCALAR0);

const HOST_SCALARS = [
  "capacityCycles",
  "guestCycles",
  "vmmCycles",
  "backendCycles",
  "dom0Cycles",
  "hostOsCycles",
  "idleCycles",
  "stealCycles",
  "reservedThreadCycles",
  "cardPackets",
  "cardIos",
  "hostPackets",
  "hostIos",
  "dom0Packets",
  "dom0Ios",
  "ioBackendCycles",
  "bwInAllowanceExceeded",
  "bwOutAllowanceExceeded",
  "ppsAllowanceExceeded",
  "netThrottledVmSeconds",
  "ebsIopsExceeded",
  "ebsThroughputExceeded",
  "volumeIopsExceeded",
  "volumeThroughputExceeded",
  "ebsThrottledVmSeconds",
  "cardNs",
] as const;
export type HostScalar = (typeof HOST_SCALARS)[number];
export const HOST_FIELDS = HOST_SCALARS.length;
export const H = indexTable(HOST_SCALARS, 0);

const SECONDS = 60;
const MINUTES = 60;

/** Serialized history: plain arrays so JSON round-trips it exactly. */
export interface HistorySnapshot {
  fields: number;
  intervals: number;
  total: number[];
  seconds: number[];
  minutes: number[];
  minuteAcc: number[];
  /** Interval from which the rings hold data (a lean snapshot drops them; they refill from there). */
  ringStart?: number;
  /** Interval from which the second ring holds single intervals (none of a stretch); absent means 0. */
  secondsFrom?: number;
}

export class CounterHistory {
  declare readonly fields: number;
  /** Intervals recorded so far. */
  intervals = 0;
  /** The rings only hold intervals from here on (after a restore from a lean snapshot). */
  ringStart = 0;
  /** The second ring only holds single intervals from here on: what came before was a stretch. */
  secondsFrom = 0;
  declare readonly total: Float64Array;
  declare private readonly seconds: Float64Array;
  declare private readonly minutes: Float64Array;
  /** The minute in progress; folded into `minutes` when it fills. */
  declare private readonly minuteAcc: Float64Array;

  constructor(fields: number) {
    this.fields = fields;
    this.total = new Float64Array(fields);
    this.seconds = new Float64Array(fields * SECONDS);
    this.minutes = new Float64Array(fields * MINUTES);
    this.minuteAcc = new Float64Array(fields);
  }

  push(record: Float64Array): void {
    const n = this.fields;
    const base = (this.intervals % SECONDS) * n;
    const { total, seconds, minuteAcc } = this;
    for (let i = 0; i < n; i++) {
      const v = record[i];
      total[i] += v;
      seconds[base + i] = v;
      minuteAcc[i] += v;
    }
    this.intervals++;
    if (this.intervals % SECONDS === 0) this.foldMinute();
  }

  /**
   * Records `times` consecutive intervals that each had `record`, as a stretch of the model gives them. The
   * totals and the minute ring take them all; the second ring takes none (it would only hold copies of one
   * record), so a window of under a minute that reaches into the stretch is answered from the minute ring.
   * `followedBy` intervals are promised to follow at once: minutes they will push out of the ring are not
   * written, so the work stays bounded however long the stretch.
   */
  pushRepeated(record: Float64Array, times: number, followedBy = 0): void {
    const n = this.fields;
    const { total, minuteAcc } = this;
    for (let i = 0; i < n; i++) total[i] += record[i] * times;
    // Whole minutes ending by here are never read again once the promised intervals are in.
    const unread = this.intervals + times + followedBy - SECONDS * (MINUTES + 1);
    let left = times;
    while (left > 0) {
      const room = SECONDS - (this.intervals % SECONDS);
      const skip =
        room === SECONDS
          ? Math.min(Math.floor(left / SECONDS), Math.floor((unread - this.intervals) / SECONDS))
          : 0;
      if (skip > 0) {
        this.intervals += skip * SECONDS;
        left -= skip * SECONDS;
        continue;
      }
      const take = Math.min(left, room);
      for (let i = 0; i < n; i++) minuteAcc[i] += record[i] * take;
      this.intervals += take;
      left -= take;
      if (take === room) this.foldMinute();
    }
    this.secondsFrom = this.intervals;
  }

  private foldMinute(): void {
    const m = ((this.intervals / SECONDS - 1) % MINUTES) * this.fields;
    this.minutes.set(this.minuteAcc, m);
    this.minuteAcc.fill(0);
  }

  /**
   * Sum over roughly the last `windowMs` of simulated time: exact up to a minute, whole minutes (plus the
   * minute in progress) up to an hour, everything beyond. Returns the sum and the seconds it covers.
   */
  window(windowMs?: number): { sum: Float64Array; seconds: number } {
    const n = this.fields;
    if (windowMs === undefined || !Number.isFinite(windowMs)) {
      return { sum: this.total.slice(), seconds: this.intervals };
    }
    const want = Math.max(1, Math.ceil(windowMs / 1000));
    if (want >= this.intervals) return { sum: this.total.slice(), seconds: this.intervals };
    const sum = new Float64Array(n);
    const completed = Math.floor(this.intervals / SECONDS);
    if (want <= SECONDS && this.intervals - want >= this.secondsFrom) {
      const k = Math.min(want, this.intervals - this.ringStart);
      for (let j = 1; j <= k; j++) {
        const base = ((this.intervals - j) % SECONDS) * n;
        for (let i = 0; i < n; i++) sum[i] += this.seconds[base + i];
      }
      return { sum, seconds: k };
    }
    const partial = this.intervals % SECONDS;
    const minutesHeld = Math.min(MINUTES, completed - Math.floor(this.ringStart / SECONDS));
    // Beyond what the rings hold, answer with what they do hold rather than over-count.
    const wantMinutes = Math.max(0, Math.min(Math.ceil((want - partial) / SECONDS), minutesHeld));
    sum.set(this.minuteAcc);
    for (let k = 1; k <= wantMinutes; k++) {
      const base = ((completed - k) % MINUTES) * n;
      for (let i = 0; i < n; i++) sum[i] += this.minutes[base + i];
    }
    return { sum, seconds: partial + wantMinutes * SECONDS };
  }

  /** `lean` keeps the totals and the minute in progress but drops the rings: windows refill from here. */
  snapshot(lean = false): HistorySnapshot {
    // Only the filled part of the rings, so a young VM's snapshot stays small.
    const secs = lean ? 0 : Math.min(this.intervals, SECONDS) * this.fields;
    const mins = lean ? 0 : Math.min(Math.floor(this.intervals / SECONDS), MINUTES) * this.fields;
    return {
      fields: this.fields,
      intervals: this.intervals,
      total: plainArray(this.total, this.total.length),
      seconds: plainArray(this.seconds, secs),
      minutes: plainArray(this.minutes, mins),
      minuteAcc: plainArray(this.minuteAcc, this.minuteAcc.length),
      ringStart: lean ? this.intervals : this.ringStart,
      secondsFrom: this.secondsFrom,
    };
  }

  static restore(s: HistorySnapshot): CounterHistory {
    const h = new CounterHistory(s.fields);
    h.intervals = s.intervals;
    h.total.set(s.total);
    h.seconds.set(s.seconds);
    h.minutes.set(s.minutes);
    h.minuteAcc.set(s.minuteAcc);
    h.ringStart = s.ringStart ?? 0;
    h.secondsFrom = s.secondsFrom ?? 0;
    return h;
  }
}

/**
 * The first `n` numbers of `a` as a plain array: what `Array.from` gives, without its iterator,
 * which costs more than the copy for the few dozen counters a store snapshots per VM each call.
 */
export function plainArray(a: ArrayLike<number>, n: number): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = a[i];
  return out;
}
