// One hardware thread's data TLBs: the first-level DTLB, split by page size, and the second-level
// TLB (STLB) that 4 KiB and 2 MiB pages share, beside a small STLB of its own for 1 GiB pages.
// Geometry: Intel Skylake, whose server parts (Skylake-SP) have the same TLBs: Intel 64 and IA-32
// Architectures Optimization Reference Manual (248966-045, February 2022), table 2-15.
// Entries are tagged with a VPID and a PCID (SDM Vol. 3C §28.3.1; ASID on AMD); a global entry
// (G bit, SDM Vol. 3A §4.10.2.4) matches every PCID of its VPID.

import { PAGE_1G, PAGE_2M, PAGE_4K, type PageSize } from "./constants";
import { C, NCOUNTERS } from "./counters";

export interface TlbGeometry {
  entries: number;
  ways: number;
}

export interface TlbConfig {
  /** First-level DTLB, one array per page size. */
  "4k": TlbGeometry;
  "2m": TlbGeometry;
  "1g": TlbGeometry;
  /** Second-level TLB shared by 4 KiB and 2 MiB pages. */
  stlb: TlbGeometry;
  /** Second-level TLB for 1 GiB pages. */
  stlb1g: TlbGeometry;
}

export const DEFAULT_TLB: TlbConfig = {
  "4k": { entries: 64, ways: 4 },
  "2m": { entries: 32, ways: 4 },
  "1g": { entries: 4, ways: 4 },
  stlb: { entries: 1536, ways: 12 },
  stlb1g: { entries: 16, ways: 4 },
};

/** Counter slots, as plain constants so the hot path does not look them up. */
const HITS = C.tlbHits;
const WRITABLE = 1;
const DIRTY = 2;
/** Bits of `held`: the page sizes the TLB has ever cached, so a lookup skips arrays that are empty. */
const HELD_2M = 1;
const HELD_1G = 2;

/** Contexts pack the VPID above the 12-bit PCID, so one int compares both tags. */
export function tlbContext(vpid: number, pcid: number): number {
  return vpid * 4096 + pcid;
}

/** A global entry is stored under this context: it matches every PCID of the VPID (never a real context). */
function globalContext(ctx: number): number {
  return -1 - (ctx >> 12);
}

/** The VPID an entry's stored context belongs to, for a global entry as for any other. */
function vpidOf(stored: number): number {
  return stored >= 0 ? stored >> 12 : -1 - stored;
}

export interface TlbSnapshot {
  /** Position of each live entry in the arrays laid end to end: L1 4K, 2M, 1G, STLB, STLB 1G. */
  slot: Int32Array;
  tag: Float64Array;
  ctx: Int32Array;
  base: Float64Array;
  perm: Uint8Array;
  /** Each set's next victim, arrays end to end. */
  fifo: Uint8Array;
  resident: number;
  residentUntagged: boolean;
  held: number;
}

/**
 * One set-associative array with FIFO replacement per set. The caller chooses the tag and the set,
 * so one array can hold several page sizes (the STLB keys a page as its number times 2, plus 1 for 2 MiB).
 */
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

  /** The slot that translates `tag` for `ctx` (its own or a global entry of its VPID), or -1. */
  find(tag: number, set: number, ctx: number, write: boolean): number {
    const start = set * this.ways;
    const end = start + this.ways;
    const g = globalContext(ctx);
    for (let i = start; i < end; i++) {
      if (this.tag[i] !== tag) continue;
      const c = this.ctx[i];
      if ((c === ctx || c === g) && (!write || (this.perm[i] & DIRTY) !== 0)) return i;
    }
    return -1;
  }

  /**
   * Stores under `ctx` exactly as given (already the global context for a global entry), over the
   * entry it replaces or else the set's FIFO victim. `absent` says no entry for tag and ctx can be
   * there, which spares the search.
   */
  insert(tag: number, set: number, ctx: number, base: number, perm: number, absent = false): void {
    const start = set * this.ways;
    const end = start + this.ways;
    let slot = -1;
    if (!absent) {
      for (let i = start; i < end; i++) {
        if (this.tag[i] === tag && this.ctx[i] === ctx) {
          slot = i;
          break;
        }
      }
    }
    if (slot < 0) {
      const way = this.fifo[set];
      slot = start + way;
      this.fifo[set] = way + 1 === this.ways ? 0 : way + 1;
    }
    this.tag[slot] = tag;
    this.ctx[slot] = ctx;
    this.base[slot] = base;
    this.perm[slot] = perm;
  }

  /** Drops the live entries for which `match(tag, storedCtx)` holds; returns how many. */
  drop(match: (tag: number, ctx: number) => boolean): number {
    let n = 0;
    for (let i = 0; i < this.tag.length; i++) {
      if (this.tag[i] >= 0 && match(this.tag[i], this.ctx[i])) {
        this.tag[i] = -1;
        n++;
      }
    }
    return n;
  }

  live(): number {
    let n = 0;
    for (const t of this.tag) if (t >= 0) n++;
    return n;
  }
}

/**
 * The TLBs of one hardware thread, which every vCPU scheduled on it shares. Lookups count into the
 * counters of the VM whose vCPU is resident (`acct`); which vCPU that is, and whether it runs with
 * VPID, decide what a VM entry on the thread flushes (vm.ts). Invalidations return how many entries
 * they dropped, for the VM that asked to count.
 *
 * Simplifications: the STLB is filled beside the L1 on every walk and refills the L1 on a hit (Intel
 * does not document its inclusion policy); the two hyperthreads of a core each get the whole
 * geometry, where the hardware divides it between them.
 */
export class Tlb {
  readonly config: TlbConfig;
  private a4: TlbArray;
  private a2: TlbArray;
  private a1: TlbArray;
  /** The STLB: 4 KiB pages under tag vpn * 2, 2 MiB pages under pn * 2 + 1, each in the set of its page number. */
  private s: TlbArray;
  private s1: TlbArray;
  private held = 0;
  /** Counters of the resident vCPU's VM (slots of counters.ts). */
  acct: Float64Array = new Float64Array(NCOUNTERS);
  /** The vCPU whose context is loaded (VmMemory.key + vcpu), or -1 before any has run here. */
  resident = -1;
  /** The resident vCPU runs without VPID: the entries tagged VPID 0 are its own. */
  residentUntagged = false;

  constructor(config: TlbConfig = DEFAULT_TLB) {
    this.config = config;
    this.a4 = new TlbArray(config["4k"], "4k");
    this.a2 = new TlbArray(config["2m"], "2m");
    this.a1 = new TlbArray(config["1g"], "1g");
    this.s = new TlbArray(config.stlb, "stlb");
    this.s1 = new TlbArray(config.stlb1g, "stlb1g");
  }

  /**
   * Returns the HPA for `gva` or -1 on a miss in both levels. A write through an entry whose dirty
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
      if (tag4[i] === vpn) {
        const c = a4.ctx[i];
        if ((c === ctx || c === -1 - (ctx >> 12)) && (!write || (a4.perm[i] & DIRTY) !== 0)) {
          this.acct[HITS]++;
          return a4.base[i] + (gva - vpn * 4096);
        }
      }
    }
    return this.lookupMore(gva, vpn, ctx, write);
  }

  /** The huge-page arrays and the STLB, split out so the common 4 KiB hit stays small enough to inline. */
  private lookupMore(gva: number, vpn: number, ctx: number, write: boolean): number {
    const held = this.held;
    if ((held & HELD_2M) !== 0) {
      const pn2 = Math.floor(gva * 4.76837158203125e-7);
      const k = this.a2.find(pn2, pn2 & this.a2.mask, ctx, write);
      if (k >= 0) return this.hit(this.a2.base[k] + (gva - pn2 * PAGE_2M), false);
    }
    if ((held & HELD_1G) !== 0) {
      const pn1 = Math.floor(gva * 9.313225746154785e-10);
      const k = this.a1.find(pn1, pn1 & this.a1.mask, ctx, write);
      if (k >= 0) return this.hit(this.a1.base[k] + (gva - pn1 * PAGE_1G), false);
    }
    const s = this.s;
    let k = s.find(vpn * 2, vpn & s.mask, ctx, write);
    if (k >= 0) {
      this.a4.insert(vpn, vpn & this.a4.mask, s.ctx[k], s.base[k], s.perm[k]);
      return this.hit(s.base[k] + (gva - vpn * PAGE_4K), true);
    }
    if ((held & HELD_2M) !== 0) {
      const pn2 = Math.floor(gva * 4.76837158203125e-7);
      k = s.find(pn2 * 2 + 1, pn2 & s.mask, ctx, write);
      if (k >= 0) {
        this.a2.insert(pn2, pn2 & this.a2.mask, s.ctx[k], s.base[k], s.perm[k]);
        return this.hit(s.base[k] + (gva - pn2 * PAGE_2M), true);
      }
    }
    if ((held & HELD_1G) !== 0) {
      const pn1 = Math.floor(gva * 9.313225746154785e-10);
      const s1 = this.s1;
      k = s1.find(pn1, pn1 & s1.mask, ctx, write);
      if (k >= 0) {
        this.a1.insert(pn1, pn1 & this.a1.mask, s1.ctx[k], s1.base[k], s1.perm[k]);
        return this.hit(s1.base[k] + (gva - pn1 * PAGE_1G), true);
      }
    }
    this.acct[C.tlbMisses]++;
    return -1;
  }

  private hit(hpa: number, secondLevel: boolean): number {
    this.acct[C.tlbHits]++;
    if (secondLevel) this.acct[C.stlbHits]++;
    return hpa;
  }

  /**
   * Caches gva's page of `size` (the smaller of the guest and EPT leaves) at host base `hpaBase`, in
   * both levels. A global entry is kept for every PCID of ctx's VPID. `afterReadMiss` says a read of
   * gva in ctx has just missed both levels, so neither holds the page and no search is needed.
   */
  insert(
    gva: number,
    ctx: number,
    size: PageSize,
    hpaBase: number,
    writable: boolean,
    dirty: boolean,
    global = false,
    afterReadMiss = false,
  ): void {
    const perm = (writable ? WRITABLE : 0) | (dirty ? DIRTY : 0);
    const c = global ? globalContext(ctx) : ctx;
    if (size === PAGE_4K) {
      const vpn = Math.floor(gva * 0.000244140625);
      this.a4.insert(vpn, vpn & this.a4.mask, c, hpaBase, perm, afterReadMiss);
      this.s.insert(vpn * 2, vpn & this.s.mask, c, hpaBase, perm, afterReadMiss);
    } else if (size === PAGE_2M) {
      const pn2 = Math.floor(gva * 4.76837158203125e-7);
      this.held |= HELD_2M;
      this.a2.insert(pn2, pn2 & this.a2.mask, c, hpaBase, perm, afterReadMiss);
      this.s.insert(pn2 * 2 + 1, pn2 & this.s.mask, c, hpaBase, perm, afterReadMiss);
    } else {
      const pn1 = Math.floor(gva * 9.313225746154785e-10);
      this.held |= HELD_1G;
      this.a1.insert(pn1, pn1 & this.a1.mask, c, hpaBase, perm, afterReadMiss);
      this.s1.insert(pn1, pn1 & this.s1.mask, c, hpaBase, perm, afterReadMiss);
    }
  }

  /**
   * INVLPG / INVVPID individual-address over a page of `bytes` at gva: drops every entry, of any size,
   * that translates part of it for ctx, global ones included (SDM Vol. 3A §4.10.4.1). A large page
   * may be cached as many smaller entries; they all go.
   */
  invalidatePage(gva: number, ctx: number, bytes: PageSize = PAGE_4K): number {
    const lo = Math.floor(gva / bytes) * bytes;
    const hi = lo + bytes;
    const g = globalContext(ctx);
    const mine = (c: number) => c === ctx || c === g;
    const overlaps = (pn: number, size: number) => pn * size < hi && (pn + 1) * size > lo;
    return (
      this.a4.drop((t, c) => mine(c) && overlaps(t, PAGE_4K)) +
      this.a2.drop((t, c) => mine(c) && overlaps(t, PAGE_2M)) +
      this.a1.drop((t, c) => mine(c) && overlaps(t, PAGE_1G)) +
      this.s.drop((t, c) => mine(c) && overlaps(Math.floor(t / 2), t % 2 === 1 ? PAGE_2M : PAGE_4K)) +
      this.s1.drop((t, c) => mine(c) && overlaps(t, PAGE_1G))
    );
  }

  /** INVPCID single-context, or MOV to CR3 with PCIDs off: ctx's entries except the global ones. */
  flushContext(ctx: number): number {
    return this.dropWhere((c) => c === ctx);
  }

  /** INVVPID single-context, or a VM transition without VPID (vpid 0): the VPID's entries, global ones too. */
  flushVpid(vpid: number): number {
    return this.dropWhere((c) => vpidOf(c) === vpid);
  }

  flushAll(): number {
    return this.dropWhere(() => true);
  }

  entries(): number {
    return this.arrays().reduce((n, a) => n + a.live(), 0);
  }

  private dropWhere(match: (ctx: number) => boolean): number {
    return this.arrays().reduce((n, a) => n + a.drop((_t, c) => match(c)), 0);
  }

  private arrays(): TlbArray[] {
    return [this.a4, this.a2, this.a1, this.s, this.s1];
  }

  snapshot(): TlbSnapshot {
    const slots: number[] = [];
    let off = 0;
    for (const a of this.arrays()) {
      for (let i = 0; i < a.tag.length; i++) if (a.tag[i] >= 0) slots.push(off + i);
      off += a.tag.length;
    }
    const s: TlbSnapshot = {
      slot: Int32Array.from(slots),
      tag: new Float64Array(slots.length),
      ctx: new Int32Array(slots.length),
      base: new Float64Array(slots.length),
      perm: new Uint8Array(slots.length),
      fifo: new Uint8Array(this.arrays().reduce((n, a) => n + a.sets, 0)),
      resident: this.resident,
      residentUntagged: this.residentUntagged,
      held: this.held,
    };
    this.visit(s.slot, (a, i, k) => {
      s.tag[k] = a.tag[i];
      s.ctx[k] = a.ctx[i];
      s.base[k] = a.base[i];
      s.perm[k] = a.perm[i];
    });
    let setOff = 0;
    for (const a of this.arrays()) {
      s.fifo.set(a.fifo, setOff);
      setOff += a.sets;
    }
    return s;
  }

  /** Replaces this TLB's contents with a snapshot's (taken from a TLB of the same geometry). */
  load(s: TlbSnapshot): void {
    if (s.fifo.length !== this.arrays().reduce((n, a) => n + a.sets, 0))
      throw new RangeError("TLB snapshot of another geometry");
    let setOff = 0;
    for (const a of this.arrays()) {
      a.tag.fill(-1);
      a.fifo.set(s.fifo.subarray(setOff, setOff + a.sets));
      setOff += a.sets;
    }
    this.visit(s.slot, (a, i, k) => {
      a.tag[i] = s.tag[k];
      a.ctx[i] = s.ctx[k];
      a.base[i] = s.base[k];
      a.perm[i] = s.perm[k];
    });
    this.resident = s.resident;
    this.residentUntagged = s.residentUntagged;
    this.held = s.held;
  }

  /** Calls `f(array, index in it, k)` for each position slot[k] of the arrays laid end to end. */
  private visit(slot: Int32Array, f: (a: TlbArray, i: number, k: number) => void): void {
    const arrays = this.arrays();
    let a = 0;
    let off = 0;
    for (let k = 0; k < slot.length; k++) {
      while (slot[k] >= off + arrays[a].tag.length) off += arrays[a++].tag.length;
      f(arrays[a], slot[k] - off, k);
    }
  }
}
