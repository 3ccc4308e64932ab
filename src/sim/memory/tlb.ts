// A per-vCPU data TLB split by page size, tagged with VPID and PCID (ASID on AMD).
// Default geometry is Intel Skylake's L1 DTLB (Intel 64 and IA-32 Optimization Reference Manual, table 2-5).

import { PAGE_1G, PAGE_2M, PAGE_4K, type PageSize } from "./constants";

export interface TlbGeometry {
  entries: number;
  ways: number;
}

export interface TlbConfig {
  "4k": TlbGeometry;
  "2m": TlbGeometry;
  "1g": TlbGeometry;
}

export const DEFAULT_TLB: TlbConfig = {
  "4k": { entries: 64, ways: 4 },
  "2m": { entries: 32, ways: 4 },
  "1g": { entries: 4, ways: 4 },
};

const WRITABLE = 1;
const DIRTY = 2;

/** Contexts pack the VPID above the 12-bit PCID, so one int compares both tags. */
export function tlbContext(vpid: number, pcid: number): number {
  return vpid * 4096 + pcid;
}

export interface TlbSnapshot {
  tag: Float64Array;
  ctx: Int32Array;
  base: Float64Array;
  perm: Uint8Array;
  fifo: Uint8Array;
  counters: Float64Array;
}

/** One set-associative array for a single page size, with FIFO replacement per set. */
class TlbArray {
  readonly sets: number;
  readonly ways: number;
  readonly mask: number;
  tag: Float64Array;
  ctx: Int32Array;
  base: Float64Array;
  perm: Uint8Array;
  fifo: Uint8Array;

  constructor(g: TlbGeometry, label: string) {
    const sets = g.entries / g.ways;
    if (!Number.isInteger(sets) || sets < 1 || (sets & (sets - 1)) !== 0 || g.ways > 255) {
      throw new RangeError(`TLB ${label}: entries/ways must be a power of two, got ${g.entries}/${g.ways}`);
    }
    this.sets = sets;
    this.ways = g.ways;
    this.mask = sets - 1;
    this.tag = new Float64Array(g.entries).fill(-1);
    this.ctx = new Int32Array(g.entries);
    this.base = new Float64Array(g.entries);
    this.perm = new Uint8Array(g.entries);
    this.fifo = new Uint8Array(sets);
  }

  insert(pn: number, ctx: number, base: number, perm: number): void {
    const set = pn & this.mask;
    const start = set * this.ways;
    const end = start + this.ways;
    const tag = this.tag;
    let slot = -1;
    for (let i = start; i < end; i++) {
      if (tag[i] === pn && this.ctx[i] === ctx) {
        slot = i;
        break;
      }
    }
    if (slot < 0) {
      const way = this.fifo[set];
      slot = start + way;
      this.fifo[set] = way + 1 === this.ways ? 0 : way + 1;
    }
    tag[slot] = pn;
    this.ctx[slot] = ctx;
    this.base[slot] = base;
    this.perm[slot] = perm;
  }

  /** Drops entries whose context satisfies `match` (and page number, when given). */
  drop(match: (ctx: number) => boolean, pn = -1): number {
    let n = 0;
    for (let i = 0; i < this.tag.length; i++) {
      if (this.tag[i] >= 0 && (pn < 0 || this.tag[i] === pn) && match(this.ctx[i])) {
        this.tag[i] = -1;
        n++;
      }
    }
    return n;
  }
}

export class Tlb {
  readonly config: TlbConfig;
  private a4: TlbArray;
  private a2: TlbArray;
  private a1: TlbArray;
  hits = 0;
  misses = 0;
  flushes = 0;
  invalidations = 0;

  constructor(config: TlbConfig = DEFAULT_TLB) {
    this.config = config;
    this.a4 = new TlbArray(config["4k"], "4k");
    this.a2 = new TlbArray(config["2m"], "2m");
    this.a1 = new TlbArray(config["1g"], "1g");
  }

  /**
   * Returns the HPA for `gva` or -1 on a miss. A write through an entry whose dirty
   * bit is clear misses on purpose: the hardware must walk again to set the D bit.
   */
  lookup(gva: number, ctx: number, write: boolean): number {
    // Multiplying by 2^-12 (etc.) is exact and far cheaper than a float division.
    const vpn = Math.floor(gva * 0.000244140625);
    const a4 = this.a4;
    const tag4 = a4.tag;
    const ways4 = a4.ways;
    let i = (vpn & a4.mask) * ways4;
    const end = i + ways4;
    for (; i < end; i++) {
      if (tag4[i] === vpn && a4.ctx[i] === ctx && (!write || (a4.perm[i] & DIRTY) !== 0)) {
        this.hits++;
        return a4.base[i] + (gva - vpn * 4096);
      }
    }
    return this.lookupHuge(gva, ctx, write);
  }

  /** The 2 MiB and 1 GiB arrays, split out so the common 4 KiB hit stays small enough to inline. */
  private lookupHuge(gva: number, ctx: number, write: boolean): number {
    const a2 = this.a2;
    const pn2 = Math.floor(gva * 4.76837158203125e-7);
    let i = (pn2 & a2.mask) * a2.ways;
    let end = i + a2.ways;
    for (; i < end; i++) {
      if (a2.tag[i] === pn2 && a2.ctx[i] === ctx && (!write || (a2.perm[i] & DIRTY) !== 0)) {
        this.hits++;
        return a2.base[i] + (gva - pn2 * PAGE_2M);
      }
    }
    const a1 = this.a1;
    const pn1 = Math.floor(gva * 9.313225746154785e-10);
    i = (pn1 & a1.mask) * a1.ways;
    end = i + a1.ways;
    for (; i < end; i++) {
      if (a1.tag[i] === pn1 && a1.ctx[i] === ctx && (!write || (a1.perm[i] & DIRTY) !== 0)) {
        this.hits++;
        return a1.base[i] + (gva - pn1 * PAGE_1G);
      }
    }
    this.misses++;
    return -1;
  }

  /** Caches gva's page of `size` (the smaller of the guest and EPT leaves) at host base `hpaBase`. */
  insert(gva: number, ctx: number, size: PageSize, hpaBase: number, writable: boolean, dirty: boolean): void {
    const perm = (writable ? WRITABLE : 0) | (dirty ? DIRTY : 0);
    const a = this.arrayFor(size);
    const inv =
      size === PAGE_4K ? 0.000244140625 : size === PAGE_2M ? 4.76837158203125e-7 : 9.313225746154785e-10;
    a.insert(Math.floor(gva * inv), ctx, hpaBase, perm);
  }

  /** INVLPG / INVVPID individual-address: drops every size's entry covering gva in `ctx`. */
  invalidatePage(gva: number, ctx: number): void {
    const same = (c: number) => c === ctx;
    this.invalidations +=
      this.a4.drop(same, Math.floor(gva / PAGE_4K)) +
      this.a2.drop(same, Math.floor(gva / PAGE_2M)) +
      this.a1.drop(same, Math.floor(gva / PAGE_1G));
  }

  /** INVVPID single-context (or INVEPT, whose mappings all carry the VM's VPID here). */
  flushVpid(vpid: number): void {
    this.dropWhere((c) => Math.floor(c / 4096) === vpid);
  }

  /** INVPCID single-context, or a MOV CR3 that does not preserve the PCID. */
  flushContext(ctx: number): void {
    this.dropWhere((c) => c === ctx);
  }

  flushAll(): void {
    this.dropWhere(() => true);
  }

  entries(): number {
    const live = (a: TlbArray) => a.tag.reduce((n, t) => n + (t >= 0 ? 1 : 0), 0);
    return live(this.a4) + live(this.a2) + live(this.a1);
  }

  private dropWhere(match: (ctx: number) => boolean): void {
    this.flushes++;
    this.invalidations += this.a4.drop(match) + this.a2.drop(match) + this.a1.drop(match);
  }

  private arrayFor(size: PageSize): TlbArray {
    return size === PAGE_4K ? this.a4 : size === PAGE_2M ? this.a2 : this.a1;
  }

  snapshot(): TlbSnapshot {
    const arrays = [this.a4, this.a2, this.a1];
    const cat = <T extends Float64Array | Int32Array | Uint8Array>(
      pick: (a: TlbArray) => T,
      make: new (n: number) => T,
    ): T => {
      const out = new make(arrays.reduce((n, a) => n + pick(a).length, 0));
      let off = 0;
      for (const a of arrays) {
        out.set(pick(a), off);
        off += pick(a).length;
      }
      return out;
    };
    return {
      tag: cat((a) => a.tag, Float64Array),
      ctx: cat((a) => a.ctx, Int32Array),
      base: cat((a) => a.base, Float64Array),
      perm: cat((a) => a.perm, Uint8Array),
      fifo: cat((a) => a.fifo, Uint8Array),
      counters: Float64Array.of(this.hits, this.misses, this.flushes, this.invalidations),
    };
  }

  static restore(config: TlbConfig, s: TlbSnapshot): Tlb {
    const t = new Tlb(config);
    let off = 0;
    let setOff = 0;
    for (const a of [t.a4, t.a2, t.a1]) {
      const n = a.tag.length;
      a.tag.set(s.tag.subarray(off, off + n));
      a.ctx.set(s.ctx.subarray(off, off + n));
      a.base.set(s.base.subarray(off, off + n));
      a.perm.set(s.perm.subarray(off, off + n));
      a.fifo.set(s.fifo.subarray(setOff, setOff + a.sets));
      off += n;
      setOff += a.sets;
    }
    [t.hits, t.misses, t.flushes, t.invalidations] = s.counters;
    return t;
  }
}
