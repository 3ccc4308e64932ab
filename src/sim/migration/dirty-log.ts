// The dirty log of a guest's frames during a migration, as KVM keeps it for QEMU
// (KVM_GET_DIRTY_LOG) and Xen's shadow log-dirty mode for xc_linux_save: one bit per 4 KiB
// guest-physical page, set by the guest's writes, read and cleared once per round.

/** Below this share (and above one minus it) pages are drawn one by one; between, a word at a time. */
const MID_LOW = 0.05;
const BERNOULLI_BITS = 12;

export class DirtyLog {
  readonly pages: number;
  private readonly bits: Uint32Array;
  private marked = 0;

  constructor(pages: number) {
    if (!Number.isSafeInteger(pages) || pages <= 0) throw new RangeError("pages must be a positive integer");
    this.pages = pages;
    this.bits = new Uint32Array(Math.ceil(pages / 32));
  }

  /** Pages marked since the last clear. */
  get count(): number {
    return this.marked;
  }

  /** The guest wrote page `pfn`; returns whether it was clean before. */
  mark(pfn: number): boolean {
    const w = pfn >>> 5;
    const bit = 1 << (pfn & 31);
    const word = this.bits[w];
    if ((word & bit) !== 0) return false;
    this.bits[w] = word | bit;
    this.marked++;
    return true;
  }

  has(pfn: number): boolean {
    return (this.bits[pfn >>> 5] & (1 << (pfn & 31))) !== 0;
  }

  /** Every page dirty: round 0 of a pre-copy sends the whole of memory. */
  markAll(): void {
    this.bits.fill(0xffffffff);
    const tail = this.pages & 31;
    if (tail !== 0) this.bits[this.bits.length - 1] = (1 << tail) - 1;
    this.marked = this.pages;
  }

  /**
   * Marks each page of [start, start + pages) independently with probability p, drawing uniforms
   * from `uniform`. Below one half it visits the pages drawn (geometric gaps); above, it draws the
   * pages left out instead and writes whole words, so its cost is the smaller of the two sets plus
   * a pass over the words, never a visit per page marked.
   */
  markRandom(start: number, pages: number, p: number, uniform: () => number, bits?: () => number): void {
    const end = start + pages;
    if (!(p > 0) || pages <= 0) return;
    if (bits && p >= MID_LOW && p <= 1 - MID_LOW) {
      this.markWords(start, end, p, bits);
      return;
    }
    if (p <= 0.5) {
      const logQ = Math.log1p(-p);
      for (let i = start + Math.floor(Math.log1p(-uniform()) / logQ); i < end; ) {
        this.mark(i);
        i += 1 + Math.floor(Math.log1p(-uniform()) / logQ);
      }
      return;
    }
    // The pages left out: geometric gaps with success probability 1 - p (none at all when p is 1).
    const logP = p >= 1 ? 0 : Math.log(p);
    const nextOut = (from: number) => (logP === 0 ? end : from + Math.floor(Math.log1p(-uniform()) / logP));
    let out = nextOut(start);
    for (let w = start >>> 5; w <= (end - 1) >>> 5; w++) {
      const lo = Math.max(start, w << 5);
      const hi = Math.min(end, (w + 1) << 5);
      let mask = hi - lo === 32 ? -1 : ((1 << (hi - lo)) - 1) << (lo & 31);
      while (out < hi) {
        mask &= ~(1 << (out & 31));
        out = nextOut(out + 1);
      }
      this.orWord(w, mask);
    }
  }

  /**
   * Between the tails, a word of 32 independent Bernoulli(p) bits from BERNOULLI_BITS random words:
   * reading p's binary digits from the last, each 1 ORs a random word in and each 0 ANDs one, which
   * leaves each bit set with probability p to within 2^-BERNOULLI_BITS.
   */
  private markWords(start: number, end: number, p: number, bits: () => number): void {
    const digits = Math.round(p * 2 ** BERNOULLI_BITS);
    for (let w = start >>> 5; w <= (end - 1) >>> 5; w++) {
      const lo = Math.max(start, w << 5);
      const hi = Math.min(end, (w + 1) << 5);
      const range = hi - lo === 32 ? -1 : ((1 << (hi - lo)) - 1) << (lo & 31);
      let x = 0;
      for (let d = 0; d < BERNOULLI_BITS; d++) x = (digits >>> d) & 1 ? x | bits() : x & bits();
      this.orWord(w, x & range);
    }
  }

  private orWord(w: number, mask: number): void {
    const old = this.bits[w];
    const added = mask & ~old;
    if (added !== 0) {
      this.bits[w] = old | added;
      this.marked += popcount(added);
    }
  }

  /** Reads and clears the log, as a bitmap sync does at the start of a round: the pages to send. */
  fetchAndClear(): number {
    const n = this.marked;
    if (n !== 0) this.bits.fill(0);
    this.marked = 0;
    return n;
  }

  /** Clears one page (it reached the destination); returns whether it was marked. */
  clear(pfn: number): boolean {
    const w = pfn >>> 5;
    const bit = 1 << (pfn & 31);
    const word = this.bits[w];
    if ((word & bit) === 0) return false;
    this.bits[w] = word & ~bit;
    this.marked--;
    return true;
  }

  /** The first marked page at or after `from`, or -1. */
  nextMarked(from: number): number {
    let w = from >>> 5;
    if (w >= this.bits.length) return -1;
    let word = this.bits[w] & (~0 << (from & 31));
    for (;;) {
      if (word !== 0) {
        const pfn = (w << 5) + (31 - Math.clz32(word & -word));
        return pfn < this.pages ? pfn : -1;
      }
      w++;
      if (w >= this.bits.length) return -1;
      word = this.bits[w];
    }
  }
}

function popcount(x: number): number {
  let v = x - ((x >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}
