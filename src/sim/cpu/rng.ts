// Seeded randomness for the CPU model: mulberry32, whose whole state is one 32-bit integer, so a
// snapshot stays a number and the same seed replays the same intervals.

export class Rng {
  declare state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** 32 random bits. */
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /**
   * Unit-variance noise with mean 0: two 16-bit uniforms cut from one draw, summed (a triangular law,
   * Irwin–Hall with n = 2). Cheap on the hot path; interval counts need the right spread, not normal tails.
   */
  normal(): number {
    const a = this.nextU32();
    return ((a & 0xffff) + (a >>> 16) - 65535) * (2.449489742783178 / 65536);
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
