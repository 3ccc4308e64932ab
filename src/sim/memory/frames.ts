// Physical frame allocator in three tiers that mirror x86 page sizes (1 GiB, 2 MiB, 4 KiB),
// so a huge page is handed out only where aligned contiguous backing really is free.

import { FRAMES_1G, FRAMES_2M, ORDER_1G, ORDER_2M, type Order } from "./constants";
import { DirtyUnits, type Image, materialize, Tracked } from "./dirty";

export const OWNER_FREE = 0;
/** Owners are 16-bit because the 4 KiB tier stores one Uint16 per frame to stay compact. */
export const MAX_OWNER = 0xffff;
const SPLIT = -1;
/** 2 MiB slots past the end of a memory that is not a whole number of GiB. */
const ABSENT = -2;

export class IsolationError extends Error {
  override name = "IsolationError";
}

/** The host has no free block left that a VM's backing or tables need. */
export class HostMemoryExhausted extends Error {
  override name = "HostMemoryExhausted";
}

export interface FrameAllocatorSnapshot {
  frames: number;
  gigOwner: Int32Array;
  gigRec: Int32Array;
  midOwner: Int32Array;
  midLeaf: Int32Array;
  midFree: Int32Array;
  midFreeList: Int32Array;
  leafOwner: Uint16Array;
  leafFree: Int32Array;
  leafBase: Int32Array;
  leafFreeList: Int32Array;
  partialGigs: Int32Array;
  partialLeaves: Int32Array;
  /** [owner, frames] pairs. */
  byOwner: Float64Array;
}

/**
 * Tiered bitmap allocator. A 1 GiB region is whole (free or owned) or split into 512
 * slots of 2 MiB; a 2 MiB slot is whole or split into 512 frames with one owner each.
 * Only split regions cost memory, so a host full of huge pages needs a few KiB of state.
 * Every frame has exactly one owner cell, which is what makes isolation checkable.
 */
export class FrameAllocator {
  declare readonly frames: number;
  declare readonly gigs: number;
  declare private gigOwner: Int32Array;
  declare private gigRec: Int32Array;
  declare private midOwner: Int32Array;
  declare private midLeaf: Int32Array;
  declare private midFree: Int32Array;
  private midCount = 0;
  private midFreeList: number[] = [];
  declare private leafOwner: Uint16Array;
  declare private leafFree: Int32Array;
  /** First frame of each split 2 MiB slot, so a partial leaf knows where it lives. */
  declare private leafBase: Int32Array;
  private leafCount = 0;
  private leafFreeList: number[] = [];
  // Insertion-ordered sets keep allocation deterministic without sorting.
  private partialGigs = new Set<number>();
  private partialLeaves = new Set<number>();
  private byOwner = new Map<number, number>();
  /** Split 1 GiB records and split 2 MiB slots written since a store last took the allocator. */
  private readonly dirtyMid = new DirtyUnits();
  private readonly dirtyLeaf = new DirtyUnits();
  declare freeFrames: number;

  constructor(frames: number) {
    if (!Number.isInteger(frames) || frames <= 0 || frames % FRAMES_2M !== 0) {
      throw new RangeError(`frames must be a positive multiple of ${FRAMES_2M}, got ${frames}`);
    }
    this.frames = frames;
    this.gigs = Math.ceil(frames / FRAMES_1G);
    this.gigOwner = new Int32Array(this.gigs);
    this.gigRec = new Int32Array(this.gigs).fill(-1);
    this.midOwner = new Int32Array(FRAMES_2M * 2);
    this.midLeaf = new Int32Array(FRAMES_2M * 2);
    this.midFree = new Int32Array(2);
    this.leafOwner = new Uint16Array(FRAMES_2M * 4);
    this.leafFree = new Int32Array(4);
    this.leafBase = new Int32Array(4);
    this.freeFrames = frames;
    const tail = frames % FRAMES_1G;
    if (tail !== 0) this.splitGig(this.gigs - 1, tail / FRAMES_2M);
  }

  /** Allocates an aligned block of 2^order frames; returns its first frame or -1. */
  alloc(order: Order, owner: number): number {
    if (!Number.isInteger(owner) || owner <= 0 || owner > MAX_OWNER)
      throw new RangeError(`bad owner ${owner}`);
    let frame: number;
    if (order === ORDER_1G) frame = this.alloc1G(owner);
    else if (order === ORDER_2M) frame = this.alloc2M(owner, false);
    else frame = this.alloc4K(owner);
    if (frame >= 0) {
      const n = 2 ** order;
      this.freeFrames -= n;
      this.byOwner.set(owner, (this.byOwner.get(owner) ?? 0) + n);
    }
    return frame;
  }

  /** Frees a block; throws IsolationError if `owner` does not own exactly that block. */
  free(frame: number, order: Order, owner: number): void {
    const g = Math.floor(frame / FRAMES_1G);
    if (g < 0 || g >= this.gigs) throw new RangeError(`frame ${frame} outside memory`);
    if (order === ORDER_1G) {
      if (frame % FRAMES_1G !== 0 || this.gigOwner[g] !== owner) this.refuse(frame, owner);
      this.gigOwner[g] = 0;
    } else {
      if (this.gigOwner[g] !== SPLIT) this.refuse(frame, owner);
      const rec = this.gigRec[g];
      const m = rec * FRAMES_2M + (Math.floor(frame / FRAMES_2M) % FRAMES_2M);
      if (order === ORDER_2M) {
        if (frame % FRAMES_2M !== 0 || this.midOwner[m] !== owner) this.refuse(frame, owner);
        this.release2M(g, rec, m);
      } else {
        if (this.midOwner[m] !== SPLIT) this.refuse(frame, owner);
        const leaf = this.midLeaf[m];
        const i = leaf * FRAMES_2M + (frame % FRAMES_2M);
        if (this.leafOwner[i] !== owner) this.refuse(frame, owner);
        this.leafOwner[i] = 0;
        this.dirtyLeaf.mark(leaf);
        this.partialLeaves.add(leaf);
        if (++this.leafFree[leaf] === FRAMES_2M) {
          // The whole 2 MiB is free again: fold it back so it can serve a huge page.
          this.partialLeaves.delete(leaf);
          this.leafFreeList.push(leaf);
          this.release2M(g, rec, m);
        }
      }
    }
    const n = 2 ** order;
    this.freeFrames += n;
    const left = (this.byOwner.get(owner) ?? 0) - n;
    if (left > 0) this.byOwner.set(owner, left);
    else this.byOwner.delete(owner);
  }

  /** The owner of a frame, or 0 when it is free. */
  ownerOf(frame: number): number {
    const g = Math.floor(frame / FRAMES_1G);
    const o = this.gigOwner[g];
    if (o !== SPLIT) return o;
    const m = this.gigRec[g] * FRAMES_2M + (Math.floor(frame / FRAMES_2M) % FRAMES_2M);
    const mo = this.midOwner[m];
    if (mo === ABSENT) return 0;
    if (mo !== SPLIT) return mo;
    return this.leafOwner[this.midLeaf[m] * FRAMES_2M + (frame % FRAMES_2M)];
  }

  framesOwnedBy(owner: number): number {
    return this.byOwner.get(owner) ?? 0;
  }

  owners(): Array<[owner: number, frames: number]> {
    return [...this.byOwner.entries()];
  }

  /** Free 2 MiB and 1 GiB blocks that could back a huge page right now. */
  freeHuge(): { free2M: number; free1G: number } {
    let free1G = 0;
    let free2M = 0;
    for (let g = 0; g < this.gigs; g++) {
      const o = this.gigOwner[g];
      if (o === 0) {
        free1G++;
        free2M += FRAMES_2M;
      } else if (o === SPLIT) free2M += this.midFree[this.gigRec[g]];
    }
    return { free2M, free1G };
  }

  /** Share of free memory that cannot serve a 2 MiB page: 0 = none lost, 1 = all. */
  fragmentation(): number {
    if (this.freeFrames === 0) return 0;
    return 1 - (this.freeHuge().free2M * FRAMES_2M) / this.freeFrames;
  }

  private refuse(frame: number, owner: number): never {
    throw new IsolationError(`owner ${owner} does not own the block at frame ${frame}`);
  }

  private firstFreeGig(): number {
    for (let g = 0; g < this.gigs; g++) if (this.gigOwner[g] === 0) return g;
    return -1;
  }

  private alloc1G(owner: number): number {
    const g = this.firstFreeGig();
    if (g < 0) return -1;
    this.gigOwner[g] = owner;
    return g * FRAMES_1G;
  }

  /** Takes a free 2 MiB slot, preferring already split gigs so whole GiBs survive. */
  private alloc2M(owner: number, forLeaf: boolean): number {
    let g = -1;
    for (const pg of this.partialGigs) {
      g = pg;
      break;
    }
    if (g < 0) {
      g = this.firstFreeGig();
      if (g < 0) return -1;
      this.splitGig(g, FRAMES_2M);
    }
    const rec = this.gigRec[g];
    const base = rec * FRAMES_2M;
    let i = 0;
    while (this.midOwner[base + i] !== 0) i++;
    if (forLeaf) {
      const leaf = this.newLeaf();
      this.midOwner[base + i] = SPLIT;
      this.midLeaf[base + i] = leaf;
    } else this.midOwner[base + i] = owner;
    this.dirtyMid.mark(rec);
    if (--this.midFree[rec] === 0) this.partialGigs.delete(g);
    return g * FRAMES_1G + i * FRAMES_2M;
  }

  private alloc4K(owner: number): number {
    let leaf = -1;
    for (const pl of this.partialLeaves) {
      leaf = pl;
      break;
    }
    if (leaf < 0) {
      const first = this.alloc2M(owner, true);
      if (first < 0) return -1;
      leaf =
        this.midLeaf[
          this.gigRec[Math.floor(first / FRAMES_1G)] * FRAMES_2M + ((first / FRAMES_2M) % FRAMES_2M)
        ];
      this.leafBase[leaf] = first;
      this.partialLeaves.add(leaf);
    }
    const base = leaf * FRAMES_2M;
    let j = 0;
    while (this.leafOwner[base + j] !== 0) j++;
    this.leafOwner[base + j] = owner;
    this.dirtyLeaf.mark(leaf);
    if (--this.leafFree[leaf] === 0) this.partialLeaves.delete(leaf);
    return this.leafBase[leaf] + j;
  }

  private splitGig(g: number, valid: number): void {
    const rec = this.midFreeList.pop() ?? this.midCount++;
    if ((rec + 1) * FRAMES_2M > this.midOwner.length) {
      this.midOwner = grow(this.midOwner, (rec + 1) * FRAMES_2M * 2);
      this.midLeaf = grow(this.midLeaf, (rec + 1) * FRAMES_2M * 2);
      this.midFree = grow(this.midFree, (rec + 1) * 2);
    }
    const base = rec * FRAMES_2M;
    this.midOwner.fill(0, base, base + valid);
    this.midOwner.fill(ABSENT, base + valid, base + FRAMES_2M);
    this.midFree[rec] = valid;
    this.dirtyMid.mark(rec);
    this.gigOwner[g] = SPLIT;
    this.gigRec[g] = rec;
    this.partialGigs.add(g);
  }

  private newLeaf(): number {
    const leaf = this.leafFreeList.pop() ?? this.leafCount++;
    if ((leaf + 1) * FRAMES_2M > this.leafOwner.length) {
      this.leafOwner = grow(this.leafOwner, (leaf + 1) * FRAMES_2M * 2);
      this.leafFree = grow(this.leafFree, (leaf + 1) * 2);
      this.leafBase = grow(this.leafBase, (leaf + 1) * 2);
    }
    this.leafOwner.fill(0, leaf * FRAMES_2M, (leaf + 1) * FRAMES_2M);
    this.leafFree[leaf] = FRAMES_2M;
    this.dirtyLeaf.mark(leaf);
    return leaf;
  }

  private release2M(g: number, rec: number, m: number): void {
    this.midOwner[m] = 0;
    this.dirtyMid.mark(rec);
    this.partialGigs.add(g);
    if (++this.midFree[rec] === FRAMES_2M) {
      this.partialGigs.delete(g);
      this.midFreeList.push(rec);
      this.gigOwner[g] = 0;
      this.gigRec[g] = -1;
    }
  }

  /**
   * The allocator live, with the marks of the records and slots written. The per-GiB arrays and
   * the lists are not tracked: they are as long as the host has GiB, or as it has split regions.
   */
  image(): Image<FrameAllocatorSnapshot> {
    const mid = this.midCount;
    const leaves = this.leafCount;
    return {
      frames: this.frames,
      gigOwner: this.gigOwner,
      gigRec: this.gigRec,
      midOwner: new Tracked(this.midOwner.subarray(0, mid * FRAMES_2M), FRAMES_2M, this.dirtyMid),
      midLeaf: new Tracked(this.midLeaf.subarray(0, mid * FRAMES_2M), FRAMES_2M, this.dirtyMid),
      midFree: new Tracked(this.midFree.subarray(0, mid), 1, this.dirtyMid),
      midFreeList: Int32Array.from(this.midFreeList),
      leafOwner: new Tracked(this.leafOwner.subarray(0, leaves * FRAMES_2M), FRAMES_2M, this.dirtyLeaf),
      leafFree: new Tracked(this.leafFree.subarray(0, leaves), 1, this.dirtyLeaf),
      leafBase: new Tracked(this.leafBase.subarray(0, leaves), 1, this.dirtyLeaf),
      leafFreeList: Int32Array.from(this.leafFreeList),
      partialGigs: Int32Array.from(this.partialGigs),
      partialLeaves: Int32Array.from(this.partialLeaves),
      byOwner: Float64Array.from([...this.byOwner].flat()),
    };
  }

  snapshot(): FrameAllocatorSnapshot {
    return materialize<FrameAllocatorSnapshot>(this.image());
  }

  /** A restored allocator is what its store holds, so nothing in it is marked. */
  static restore(s: FrameAllocatorSnapshot): FrameAllocator {
    const a = new FrameAllocator(s.frames);
    a.gigOwner = s.gigOwner.slice();
    a.gigRec = s.gigRec.slice();
    a.midCount = s.midFree.length;
    a.midOwner = grow(s.midOwner, Math.max(FRAMES_2M, s.midOwner.length));
    a.midLeaf = grow(s.midLeaf, Math.max(FRAMES_2M, s.midLeaf.length));
    a.midFree = grow(s.midFree, Math.max(1, s.midFree.length));
    a.midFreeList = [...s.midFreeList];
    a.leafCount = s.leafFree.length;
    a.leafOwner = grow(s.leafOwner, Math.max(FRAMES_2M, s.leafOwner.length));
    a.leafFree = grow(s.leafFree, Math.max(1, s.leafFree.length));
    a.leafBase = grow(s.leafBase, Math.max(1, s.leafBase.length));
    a.leafFreeList = [...s.leafFreeList];
    a.partialGigs = new Set(s.partialGigs);
    a.partialLeaves = new Set(s.partialLeaves);
    a.byOwner = new Map();
    let free = s.frames;
    for (let i = 0; i < s.byOwner.length; i += 2) {
      a.byOwner.set(s.byOwner[i], s.byOwner[i + 1]);
      free -= s.byOwner[i + 1];
    }
    a.freeFrames = free;
    a.dirtyMid.clear();
    a.dirtyLeaf.clear();
    return a;
  }
}

/** Copies into a larger array of the same kind (typed arrays cannot grow in place). */
export function grow<T extends Int32Array | Uint16Array | Float64Array | Uint8Array>(
  arr: T,
  length: number,
): T {
  if (arr.length >= length) return arr.slice() as T;
  const next = new (arr.constructor as new (n: number) => T)(length);
  next.set(arr);
  return next;
}
