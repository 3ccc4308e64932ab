// The guest's writes during a migration, sampled straight into the dirty log: a writable working set
// (Clark et al., NSDI 2005, section 3: the pages a guest rewrites so often that copying them before
// the last round is wasted) and writes spread over the rest of memory. Each region takes a count of
// page writes per second; the pages they land on are drawn uniformly.

import { Rng } from "../cpu/rng";
import type { DirtyLog } from "./dirty-log";

export const PAGE_BYTES = 4096;

export interface GuestWrites {
  /** Bytes of the writable working set: the pages the guest rewrites over and over. */
  hotBytes: number;
  /** Page writes per second that land in the writable working set. */
  hotWritesPerSec: number;
  /** Page writes per second that land anywhere in memory (the rest of the guest's activity). */
  coldWritesPerSec: number;
}

export function validateGuestWrites(w: GuestWrites, memoryBytes: number): void {
  if (!(Number.isFinite(w.hotBytes) && w.hotBytes >= 0 && w.hotBytes <= memoryBytes))
    throw new RangeError("hotBytes must be between 0 and the guest's memory");
  for (const [k, v] of [
    ["hotWritesPerSec", w.hotWritesPerSec],
    ["coldWritesPerSec", w.coldWritesPerSec],
  ] as const)
    if (!(Number.isFinite(v) && v >= 0)) throw new RangeError(`${k} must be a non-negative number`);
}

/**
 * Where a guest's writes land. `n` uniform page writes over `pages` pages leave each page written
 * with probability 1 - (1 - 1/pages)^n ≈ 1 - e^(-n/pages); the sampler draws the written pages
 * directly (geometric gaps between them), so its cost is the number of pages written, whatever the
 * number of writes: a guest rewriting its working set a million times a second costs no more than
 * one rewriting it once.
 */
export class GuestWriter {
  readonly memoryPages: number;
  readonly hotStart: number;
  readonly hotPages: number;
  private readonly rng: Rng;

  constructor(
    memoryBytes: number,
    readonly spec: GuestWrites,
    seed: number,
  ) {
    validateGuestWrites(spec, memoryBytes);
    this.memoryPages = Math.ceil(memoryBytes / PAGE_BYTES);
    this.rng = new Rng(seed);
    this.hotPages = Math.min(this.memoryPages, Math.round(spec.hotBytes / PAGE_BYTES));
    // The working set sits somewhere in memory, not at its start (which the post-copy push reaches first).
    this.hotStart = Math.floor(this.rng.next() * (this.memoryPages - this.hotPages + 1));
  }

  /** Page writes per second the guest makes at full speed. */
  get writesPerSec(): number {
    return this.spec.hotWritesPerSec + this.spec.coldWritesPerSec;
  }

  /**
   * The guest runs `seconds` with its vCPUs slowed by `throttle` (0..1, auto-converge's share of
   * time taken from them): each page it writes is passed to `visit`. Returns the page writes made.
   */
  run(seconds: number, throttle: number, visit: (pfn: number) => void): number {
    if (!(seconds > 0)) return 0;
    const speed = 1 - throttle;
    const hot = this.spec.hotWritesPerSec * seconds * speed;
    const cold = this.spec.coldWritesPerSec * seconds * speed;
    if (this.hotPages > 0) this.sample(this.hotStart, this.hotPages, hot, visit);
    this.sample(0, this.memoryPages, cold, visit);
    return hot + cold;
  }

  /** Runs the guest and marks what it wrote in `log`, a word of the bitmap at a time where it can. */
  dirty(log: DirtyLog, seconds: number, throttle: number): number {
    if (!(seconds > 0)) return 0;
    const speed = 1 - throttle;
    const hot = this.spec.hotWritesPerSec * seconds * speed;
    const cold = this.spec.coldWritesPerSec * seconds * speed;
    const uniform = () => this.rng.next();
    const bits = () => this.rng.nextU32();
    if (this.hotPages > 0 && hot > 0)
      log.markRandom(this.hotStart, this.hotPages, -Math.expm1(-hot / this.hotPages), uniform, bits);
    if (cold > 0) log.markRandom(0, this.memoryPages, -Math.expm1(-cold / this.memoryPages), uniform, bits);
    return hot + cold;
  }

  private sample(start: number, pages: number, writes: number, visit: (pfn: number) => void): void {
    if (!(writes > 0)) return;
    const end = start + pages;
    const p = -Math.expm1(-writes / pages);
    if (p >= 1 - 1e-12) {
      for (let i = start; i < end; i++) visit(i);
      return;
    }
    const logQ = Math.log1p(-p);
    let i = start - 1;
    for (;;) {
      // The gap to the next written page is geometric with success probability p.
      i += 1 + Math.floor(Math.log1p(-this.rng.next()) / logQ);
      if (i >= end) return;
      visit(i);
    }
  }
}
