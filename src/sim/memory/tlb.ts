// One hardware thread's data TLBs: the first-level DTLB, split by page size, and the second-level
// TLB (STLB) that 4 KiB and 2 MiB pages share, beside a small STLB of its own for 1 GiB pages.
// Geometry: Intel Skylake, whose server parts (Skylake-SP) have the same TLBs: Intel 64 and IA-32
// Architectures Optimization Reference Manual (248966-045, February 2022), table 2-15.
// Entries are tagged with a VPID and a PCID (SDM Vol. 3C §28.3.1; ASID on AMD); a global entry
// (G bit, SDM Vol. 3A §4.10.2.4) matches every PCID of its VPID.

import type { PageSize } from "./constants";
import * as paging from "./constants";
import * as counters from "./counters";
import { DirtyUnits, type Image, materialize, Tracked } from "./dirty";

// Read as this module's own consts, which V8 folds into the compiled lookups (an import is a checked cell).
const { PAGE_1G, PAGE_2M, PAGE_4K } = paging;
const { C, NCOUNTERS } = counters;

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
/**
 * Numbers per slot: its key (the tag plus one, so an empty slot is all zeros), its context and
 * permissions packed as ctx * 4 + perm (a context is at most 28 bits and a sign, so the pack is an
 * int32 that `>> 2` and `&` take apart), and the host base of its page.
 */
const SLOT = 3;
const META = 1;
const BASE = 2;

function pack(ctx: number, perm: number): number {
  return ctx * 4 + perm;
}

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

/**
 * A TLB as stored since HostMemorySnapshot version 3: every slot in place, so a store that rewrites
 * what a fill or an invalidation marked rewrites those slots alone.
 */
export interface TlbSnapshot {
  /** SLOT numbers per slot (key, packed context and permissions, base), arrays end to end: L1 4K, 2M, 1G, STLB, STLB 1G. */
  entries: Float64Array;
  /** Each set's next victim, arrays end to end. */
  fifo: Uint8Array;
  /** The resident vCPU, 1 if it runs without VPID (else 0), and `held`. */
  state: Int32Array;
}

/** A TLB as version 2 stored it: its live entries alone, each with its position among the slots. */
export interface CompactTlbSnapshot {
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

/** The slots of a TLB without storage: nothing is cached, and nothing may be written here. */
const NO_SLOTS = new Float64Array(0);

/** All-zero slots of each length, shown to a store for a TLB without storage (never written). */
const zeroSlots = new Map<number, Float64Array>();

/** Sets in an array of geometry `g`, which must be a power of two. */
function setsOf(g: TlbGeometry, label: string): number {
  const sets = g.entries / g.ways;
  if (!Number.isInteger(sets) || sets < 1 || (sets & (sets - 1)) !== 0 || g.ways > 255) {
    throw new RangeError(`TLB ${label}: entries/ways must be a power of two, got ${g.entries}/${g.ways}`);
  }
  return sets;
}

/**
 * One set-associative array with FIFO replacement per set. The caller chooses the tag and the set,
 * so one array can hold several page sizes (the STLB keys a page as its number times 2, plus 1 for 2 MiB).
 * Its slots and sets are views of its TLB's, where every slot it writes is marked for a store.
 */
class TlbArray {
  // `declare`d so each field's representation comes from the constructor's store (see VmMemory).
  declare readonly sets: number;
  declare readonly ways: number;
  declare readonly mask: number;
  /** Numbers per set: ways * SLOT. */
  declare readonly span: number;
  /** SLOT numbers per slot; a found entry is named by the index of its key here. Empty while its TLB has no storage. */
  declare e: Float64Array;
  declare readonly fifo: Uint8Array;
  /** Where this array's slots begin among its TLB's, how many it has, and the TLB's marks of slots written. */
  declare private readonly first: number;
  declare private readonly entries: number;
  declare private readonly dirty: DirtyUnits;

  constructor(
    g: TlbGeometry,
    label: string,
    /** The TLB's slots and sets, and where this array's slots and sets begin in them. */
    entries: Float64Array,
    first: number,
    fifo: Uint8Array,
    firstSet: number,
    dirty: DirtyUnits,
  ) {
    this.first = first;
    this.entries = g.entries;
    this.dirty = dirty;
    this.sets = setsOf(g, label);
    this.ways = g.ways;
    this.mask = this.sets - 1;
    this.span = g.ways * SLOT;
    this.e = NO_SLOTS;
    this.view(entries);
    this.fifo = fifo.subarray(firstSet, firstSet + this.sets);
  }

  /** Makes `e` this array's part of the TLB's slots, or empty when the TLB has none. */
  view(slots: Float64Array): void {
    this.e =
      slots.length === 0 ? NO_SLOTS : slots.subarray(this.first * SLOT, (this.first + this.entries) * SLOT);
  }

  /** Where in `e` the entry is that translates `tag` for `ctx` (its own or a global entry of its VPID), or -1. */
  find(tag: number, set: number, ctx: number, write: boolean): number {
    const e = this.e;
    const key = tag + 1;
    const g = globalContext(ctx);
    const end = (set + 1) * this.span;
    for (let i = set * this.span; i < end; i += SLOT) {
      if (e[i] !== key) continue;
      const m = e[i + META];
      const c = m >> 2;
      if ((c === ctx || c === g) && (!write || (m & DIRTY) !== 0)) return i;
    }
    return -1;
  }

  /**
   * Stores under `meta` (the packed context, already the global one for a global entry) exactly as
   * given, over the entry it replaces or else the set's FIFO victim. `absent` says no entry for tag
   * and context can be there, which spares the search.
   */
  insert(tag: number, set: number, meta: number, base: number, absent = false): void {
    const e = this.e;
    const key = tag + 1;
    const ctx = meta >> 2;
    // Slots are numbered within the array (k), so the mark needs no division by SLOT.
    const first = set * this.ways;
    let k = -1;
    if (!absent) {
      for (let w = 0; w < this.ways; w++) {
        const j = (first + w) * SLOT;
        if (e[j] === key && e[j + META] >> 2 === ctx) {
          k = first + w;
          break;
        }
      }
    }
    if (k < 0) {
      const way = this.fifo[set];
      k = first + way;
      this.fifo[set] = way + 1 === this.ways ? 0 : way + 1;
    }
    const i = k * SLOT;
    e[i] = key;
    e[i + META] = meta;
    e[i + BASE] = base;
    this.dirty.mark(this.first + k);
  }

  /** Empties the live entries for which `match(tag, storedCtx)` holds; returns how many. */
  drop(match: (tag: number, ctx: number) => boolean): number {
    const e = this.e;
    let n = 0;
    for (let i = 0; i < e.length; i += SLOT) {
      if (e[i] !== 0 && match(e[i] - 1, e[i + META] >> 2)) {
        e.fill(0, i, i + SLOT);
        this.dirty.mark(this.first + i / SLOT);
        n++;
      }
    }
    return n;
  }

  /**
   * Empties the live entries that translate part of [lo, hi) for `ctx` or under its VPID's global
   * context `g`, and returns how many. An entry's tag is its page number of `size`, or in the STLB
   * (`stlb`) that number times 2, plus 1 for a 2 MiB page. Each entry is kept in the set of its page
   * number, so only the sets of page numbers [first, last] (of `size`) are searched, every set when
   * the range has as many pages as there are sets, in slot order as a full search goes.
   */
  dropOverlapping(
    first: number,
    last: number,
    size: number,
    stlb: boolean,
    lo: number,
    hi: number,
    ctx: number,
    g: number,
  ): number {
    let n = 0;
    if (last - first + 1 >= this.sets) {
      const end = this.e.length;
      for (let i = 0; i < end; i += SLOT) n += this.dropIfOverlapping(i, size, stlb, lo, hi, ctx, g);
      return n;
    }
    const span = this.span;
    for (let pn = first; pn <= last; pn++) {
      const start = (pn & this.mask) * span;
      for (let i = start; i < start + span; i += SLOT)
        n += this.dropIfOverlapping(i, size, stlb, lo, hi, ctx, g);
    }
    return n;
  }

  /** Empties slot `i` if it holds an entry `dropOverlapping` drops; returns 1 if it did, else 0. */
  private dropIfOverlapping(
    i: number,
    size: number,
    stlb: boolean,
    lo: number,
    hi: number,
    ctx: number,
    g: number,
  ): number {
    const e = this.e;
    const key = e[i];
    if (key === 0) return 0;
    const c = e[i + META] >> 2;
    if (c !== ctx && c !== g) return 0;
    let pn = key - 1;
    let bytes = size;
    if (stlb) {
      bytes = pn % 2 === 1 ? PAGE_2M : PAGE_4K;
      pn = Math.floor(pn / 2);
    }
    if (!(pn * bytes < hi && (pn + 1) * bytes > lo)) return 0;
    e[i] = 0;
    e[i + META] = 0;
    e[i + BASE] = 0;
    this.dirty.mark(this.first + i / SLOT);
    return 1;
  }

  /** Whether any live entry has an even tag: in the STLB, a 4 KiB page. */
  holdsEven(): boolean {
    const e = this.e;
    for (let i = 0; i < e.length; i += SLOT) if (e[i] !== 0 && (e[i] - 1) % 2 === 0) return true;
    return false;
  }

  live(): number {
    let n = 0;
    for (let i = 0; i < this.e.length; i += SLOT) if (this.e[i] !== 0) n++;
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
  declare readonly config: TlbConfig;
  declare private a4: TlbArray;
  declare private a2: TlbArray;
  declare private a1: TlbArray;
  /** The STLB: 4 KiB pages under tag vpn * 2, 2 MiB pages under pn * 2 + 1, each in the set of its page number. */
  declare private s: TlbArray;
  declare private s1: TlbArray;
  /** The first-level 4 KiB array's slots and geometry, on the TLB itself for the lookup that hits. */
  declare private e4: Float64Array;
  declare private readonly mask4: number;
  declare private readonly span4: number;
  /**
   * Every array's slots and sets, end to end (TlbSnapshot): the arrays are views of them. The slots
   * (40 KiB in the default geometry, nearly all of it the STLB) are made when a vCPU first runs on the
   * thread and given back when no vCPU is resident and no entry is left (`release`): until then NO_SLOTS,
   * which holds what an empty TLB holds. The sets' FIFO positions stay, so replacement goes on as before.
   */
  declare private slots: Float64Array;
  declare private readonly slotCount: number;
  declare private readonly fifo: Uint8Array;
  /** Slots filled or emptied since a store last took the TLB: lookups that hit mark nothing. */
  private readonly dirty = new DirtyUnits();
  private held = 0;
  /**
   * Whether a 4 KiB entry may be held (in the first-level 4 KiB array, or in the STLB): until one is, an
   * INVLPG of a larger page need not search the many sets 4 KiB entries of it could be in. Not stored: a
   * restored TLB works it out from its entries.
   */
  private small = false;
  /** Counters of the resident vCPU's VM (slots of counters.ts). */
  acct: Float64Array = new Float64Array(NCOUNTERS);
  /** The vCPU whose context is loaded (VmMemory.key + vcpu), or -1 before any has run here. */
  resident = -1;
  /** The resident vCPU runs without VPID: the entries tagged VPID 0 are its own. */
  residentUntagged = false;
  private readonly stateForImage = new Int32Array(3);
  /** Told when the image may first differ from what a store last took: a slot marked, the resident changed. */
  private watcher: (() => void) | null = null;
  private readonly stateBytes = new Uint8Array(this.stateForImage.buffer);

  constructor(config: TlbConfig = DEFAULT_TLB) {
    this.config = config;
    const order = [
      [config["4k"], "4k"],
      [config["2m"], "2m"],
      [config["1g"], "1g"],
      [config.stlb, "stlb"],
      [config.stlb1g, "stlb1g"],
    ] as const;
    let slots = 0;
    let sets = 0;
    for (const [g, label] of order) {
      slots += g.entries;
      sets += setsOf(g, label);
    }
    this.slotCount = slots;
    this.slots = NO_SLOTS;
    this.fifo = new Uint8Array(sets);
    slots = 0;
    sets = 0;
    const [a4, a2, a1, s, s1] = order.map(([g, label]) => {
      const a = new TlbArray(g, label, this.slots, slots, this.fifo, sets, this.dirty);
      slots += g.entries;
      sets += a.sets;
      return a;
    });
    this.a4 = a4;
    this.e4 = a4.e;
    this.mask4 = a4.mask;
    this.span4 = a4.span;
    this.a2 = a2;
    this.a1 = a1;
    this.s = s;
    this.s1 = s1;
  }

  /**
   * `onChange` is told whenever the TLB's image may come to differ from what a store last took of it
   * (its marks cleared): a slot filled or emptied, or another vCPU resident.
   */
  watch(onChange: () => void): void {
    this.watcher = onChange;
    this.dirty.onFirstMark = onChange;
  }

  /** The vCPU now resident (VmMemory.key + vcpu, or -1 for none), and whether it runs without VPID. */
  setResident(resident: number, untagged: boolean): void {
    this.resident = resident;
    this.residentUntagged = untagged;
    this.watcher?.();
  }

  /** Bytes of entry storage the TLB holds now: none until a vCPU first runs on its thread. */
  get storageBytes(): number {
    return this.slots.byteLength;
  }

  /** Makes the entry storage, empty, if the TLB has none: a vCPU is about to run on the thread. */
  allocate(): void {
    if (this.slots.length !== 0) return;
    this.setSlots(new Float64Array(this.slotCount * SLOT));
  }

  /**
   * Gives the entry storage back when no vCPU is resident and no entry is cached: what is left is what a
   * TLB without storage holds. Returns whether it did.
   */
  release(): boolean {
    if (this.slots.length === 0 || this.resident >= 0 || this.entries() > 0) return false;
    this.setSlots(NO_SLOTS);
    return true;
  }

  private setSlots(slots: Float64Array): void {
    this.slots = slots;
    for (const a of this.arrays()) a.view(slots);
    this.e4 = this.a4.e;
  }

  /**
   * Returns the HPA for `gva` or -1 on a miss in both levels. A write through an entry whose dirty
   * bit is clear misses on purpose: the hardware must walk again to set the D bit.
   */
  lookup(gva: number, ctx: number, write: boolean): number {
    // Multiplying by 2^-12 (etc.) is exact and far cheaper than a float division.
    const vpn = Math.floor(gva * 0.000244140625);
    const key = vpn + 1;
    const e = this.e4;
    const span = this.span4;
    let i = (vpn & this.mask4) * span;
    const end = i + span;
    for (; i < end; i += SLOT) {
      if (e[i] === key) {
        const m = e[i + META];
        const c = m >> 2;
        if ((c === ctx || c === -1 - (ctx >> 12)) && (!write || (m & DIRTY) !== 0)) {
          this.acct[HITS]++;
          return e[i + BASE] + (gva & 4095);
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
      if (k >= 0) return this.hit(this.a2.e[k + BASE] + (gva - pn2 * PAGE_2M), false);
    }
    if ((held & HELD_1G) !== 0) {
      const pn1 = Math.floor(gva * 9.313225746154785e-10);
      const k = this.a1.find(pn1, pn1 & this.a1.mask, ctx, write);
      if (k >= 0) return this.hit(this.a1.e[k + BASE] + (gva - pn1 * PAGE_1G), false);
    }
    const s = this.s.e;
    let k = this.s.find(vpn * 2, vpn & this.s.mask, ctx, write);
    if (k >= 0) {
      this.a4.insert(vpn, vpn & this.a4.mask, s[k + META], s[k + BASE]);
      return this.hit(s[k + BASE] + (gva - vpn * PAGE_4K), true);
    }
    if ((held & HELD_2M) !== 0) {
      const pn2 = Math.floor(gva * 4.76837158203125e-7);
      k = this.s.find(pn2 * 2 + 1, pn2 & this.s.mask, ctx, write);
      if (k >= 0) {
        this.a2.insert(pn2, pn2 & this.a2.mask, s[k + META], s[k + BASE]);
        return this.hit(s[k + BASE] + (gva - pn2 * PAGE_2M), true);
      }
    }
    if ((held & HELD_1G) !== 0) {
      const pn1 = Math.floor(gva * 9.313225746154785e-10);
      const s1 = this.s1;
      k = s1.find(pn1, pn1 & s1.mask, ctx, write);
      if (k >= 0) {
        this.a1.insert(pn1, pn1 & this.a1.mask, s1.e[k + META], s1.e[k + BASE]);
        return this.hit(s1.e[k + BASE] + (gva - pn1 * PAGE_1G), true);
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
    // A vCPU runs here (VmMemory.enter made the storage); a TLB used on its own makes it now.
    if (this.slots.length === 0) this.allocate();
    const m = pack(global ? globalContext(ctx) : ctx, (writable ? WRITABLE : 0) | (dirty ? DIRTY : 0));
    if (size === PAGE_4K) {
      const vpn = Math.floor(gva * 0.000244140625);
      this.small = true;
      this.a4.insert(vpn, vpn & this.a4.mask, m, hpaBase, afterReadMiss);
      this.s.insert(vpn * 2, vpn & this.s.mask, m, hpaBase, afterReadMiss);
    } else if (size === PAGE_2M) {
      const pn2 = Math.floor(gva * 4.76837158203125e-7);
      this.held |= HELD_2M;
      this.a2.insert(pn2, pn2 & this.a2.mask, m, hpaBase, afterReadMiss);
      this.s.insert(pn2 * 2 + 1, pn2 & this.s.mask, m, hpaBase, afterReadMiss);
    } else {
      const pn1 = Math.floor(gva * 9.313225746154785e-10);
      this.held |= HELD_1G;
      this.a1.insert(pn1, pn1 & this.a1.mask, m, hpaBase, afterReadMiss);
      this.s1.insert(pn1, pn1 & this.s1.mask, m, hpaBase, afterReadMiss);
    }
  }

  /**
   * INVLPG / INVVPID individual-address over a page of `bytes` at gva: drops every entry, of any size,
   * that translates part of it for ctx, global ones included (SDM Vol. 3A §4.10.4.1). A large page
   * may be cached as many smaller entries; they all go.
   */
  invalidatePage(gva: number, ctx: number, bytes: PageSize = PAGE_4K): number {
    if (this.slots.length === 0) return 0;
    const lo = Math.floor(gva / bytes) * bytes;
    const hi = lo + bytes;
    const g = globalContext(ctx);
    // The page numbers of each size that overlap the range: only their sets can hold such an entry.
    const f4 = Math.floor(lo / PAGE_4K);
    const l4 = Math.ceil(hi / PAGE_4K) - 1;
    const f2 = Math.floor(lo / PAGE_2M);
    const l2 = Math.ceil(hi / PAGE_2M) - 1;
    const f1 = Math.floor(lo / PAGE_1G);
    const l1 = Math.ceil(hi / PAGE_1G) - 1;
    // The STLB keeps a 4 KiB page in the set of its number and a 2 MiB page in the set of its own; without
    // 4 KiB entries, the sets of the 4 KiB page numbers can hold none of the range's that the others miss.
    const small = this.small;
    return (
      (small ? this.a4.dropOverlapping(f4, l4, PAGE_4K, false, lo, hi, ctx, g) : 0) +
      this.a2.dropOverlapping(f2, l2, PAGE_2M, false, lo, hi, ctx, g) +
      this.a1.dropOverlapping(f1, l1, PAGE_1G, false, lo, hi, ctx, g) +
      (small ? this.s.dropOverlapping(f4, l4, PAGE_4K, true, lo, hi, ctx, g) : 0) +
      this.s.dropOverlapping(f2, l2, PAGE_2M, true, lo, hi, ctx, g) +
      this.s1.dropOverlapping(f1, l1, PAGE_1G, false, lo, hi, ctx, g)
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

  /** The TLB live (dirty.ts): its slots with the marks of those filled or emptied since a store took them. */
  image(): Image<TlbSnapshot> {
    return {
      entries: new Tracked(
        this.slots.length === 0 ? zeros(this.slotCount * SLOT) : this.slots,
        SLOT,
        this.dirty,
      ),
      fifo: this.fifo,
      state: this.imageState(),
    };
  }

  snapshot(): TlbSnapshot {
    return materialize<TlbSnapshot>(this.image());
  }

  /**
   * Whether the TLB's image holds what a store last wrote of it: entries of `entriesBytes` bytes none
   * of which is marked, the sets' FIFO positions `fifo` and the state bytes `state` (the image's
   * arrays' bytes). Answers what comparing a new image with them would, without making one.
   */
  unchangedFrom(entriesBytes: number, fifo: Uint8Array, state: Uint8Array): boolean {
    if (this.dirty.units().length > 0 || entriesBytes !== this.slotCount * SLOT * 8) return false;
    this.imageState();
    const bytes = this.stateBytes;
    if (state.length !== bytes.length || fifo.length !== this.fifo.length) return false;
    for (let i = 0; i < bytes.length; i++) if (bytes[i] !== state[i]) return false;
    const f = this.fifo;
    for (let i = 0; i < f.length; i++) if (f[i] !== fifo[i]) return false;
    return true;
  }

  /**
   * The image's `state`, kept in one array filled afresh each time: a store reads its bytes, and a
   * small array made anew for each image would have its bytes moved off the heap each time.
   */
  private imageState(): Int32Array {
    const s = this.stateForImage;
    s[0] = this.resident;
    s[1] = this.residentUntagged ? 1 : 0;
    s[2] = this.held;
    return s;
  }

  /**
   * Replaces a new TLB's contents with a snapshot's (taken from a TLB of the same geometry), in either
   * layout. Nothing is marked: a TLB restored from a store is what the store holds.
   */
  load(s: TlbSnapshot | CompactTlbSnapshot): void {
    if (s.fifo.length !== this.fifo.length) throw new RangeError("TLB snapshot of another geometry");
    this.fifo.set(s.fifo);
    if ("slot" in s) {
      this.resident = s.resident;
      this.residentUntagged = s.residentUntagged;
      this.held = s.held;
      // Storage only for a TLB that caches something or has a vCPU resident, as if it had run since.
      this.setSlots(
        s.slot.length > 0 || s.resident >= 0 ? new Float64Array(this.slotCount * SLOT) : NO_SLOTS,
      );
      for (let k = 0; k < s.slot.length; k++) {
        const i = s.slot[k] * SLOT;
        this.slots[i] = s.tag[k] + 1;
        this.slots[i + META] = pack(s.ctx[k], s.perm[k]);
        this.slots[i + BASE] = s.base[k];
      }
    } else {
      if (s.entries.length !== this.slotCount * SLOT)
        throw new RangeError("TLB snapshot of another geometry");
      this.resident = s.state[0];
      this.residentUntagged = s.state[1] === 1;
      this.held = s.state[2];
      const live = s.entries.some((x) => x !== 0);
      this.setSlots(live || this.resident >= 0 ? new Float64Array(this.slotCount * SLOT) : NO_SLOTS);
      if (live) this.slots.set(s.entries);
    }
    this.small = this.a4.live() > 0 || this.s.holdsEven();
    this.dirty.clear();
  }
}

/** The shared all-zero slots of `length` numbers. */
function zeros(length: number): Float64Array {
  let z = zeroSlots.get(length);
  if (!z) {
    z = new Float64Array(length);
    zeroSlots.set(length, z);
  }
  return z;
}
