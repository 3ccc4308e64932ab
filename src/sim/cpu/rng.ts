// Seeded randomness for the CPU model: mulberry32, whose whole state is one 32-bit integer, so a
// snapshot stays a number and the same seed replays the same intervals.

export class Rng {
  state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Standard normal, approximated by four uniforms (Irwin–Hall): cheap, and tails do not matter here. */
  normal(): number {
    return (this.next() + this.next() + this.next() + this.next() - 2) * 1.7320508075688772;
  }

  /**
   * A count of independent events with the given mean: Poisson by inversion while the mean is small,
   * its normal approximation above that, so the cost per draw stays bounded.
   */
  count(mean: number): number {
    if (!(mean > 0)) return 0;
    if (mean < 12) {
      const limit = Math.exp(-mean);
      let k = 0;
      let p = this.next();
      while (p > limit) {
        k++;
        p *= this.next();
      }
      return k;
    }
    const k = Math.round(mean + Math.sqrt(mean) * this.normal());
    return Math.max(k, 0);
  }
}

/** FNV-1a, to turn a VM id into a seed when the caller has no number of its own. */
export function seedFromString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
