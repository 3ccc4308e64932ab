// A pool of radix-table pages (512 eight-byte entries each) for guest, EPT and shadow tables.
// Entry format follows Intel SDM Vol. 3A §4.5 / §29.3: frame * 4096 + flag bits.

import { ENTRIES } from "./constants";
import { DirtyUnits, type Image, materialize, Tracked } from "./dirty";
import { grow } from "./frames";

export interface TablePoolSnapshot {
  entries: Float64Array;
  child: Int32Array | null;
  frame: Float64Array;
  freeSlots: Int32Array;
}

/**
 * Tables live in one Float64Array so a walk is a chain of array reads. Directory pools
 * also keep, beside each entry, the pool slot of the table it points to: that slot is
 * fixed when the hypervisor or guest allocates the table at that physical address, so
 * following it is the same as reading the page at the address, only without a hash
 * lookup. Leaf-level tables have no children and skip that array (half their cost).
 */
export class TablePool {
  declare entries: Float64Array;
  declare child: Int32Array | null;
  /** Physical frame that holds each table (a GPA frame for guest tables, an HPA frame otherwise). */
  declare frame: Float64Array;
  used = 0;
  /** Slots written since a store last took the pool (entries, child pointers or frame). */
  readonly dirty = new DirtyUnits();
  private freeSlots: number[] = [];

  /** Directory pools start with room for the three tables above a first leaf, and the root. */
  constructor(withChild: boolean, slots = withChild ? 4 : 2) {
    this.entries = new Float64Array(slots * ENTRIES);
    this.child = withChild ? new Int32Array(slots * ENTRIES).fill(-1) : null;
    this.frame = new Float64Array(slots);
  }

  get live(): number {
    return this.used - this.freeSlots.length;
  }

  /** Allocates a zeroed table held in physical frame `frame`; entries are re-read after this. */
  alloc(frame: number): number {
    const slot = this.freeSlots.pop() ?? this.used++;
    if (slot >= this.frame.length) {
      // Grow by a quarter, not double: pools are most of a host's heap and doubling wastes half.
      const slots = Math.ceil(this.frame.length * 1.25) + 8;
      this.entries = grow(this.entries, slots * ENTRIES);
      if (this.child) {
        const child = grow(this.child, slots * ENTRIES);
        child.fill(-1, this.frame.length * ENTRIES);
        this.child = child;
      }
      this.frame = grow(this.frame, slots);
    }
    const base = slot * ENTRIES;
    this.entries.fill(0, base, base + ENTRIES);
    this.child?.fill(-1, base, base + ENTRIES);
    this.frame[slot] = frame;
    this.dirty.mark(slot);
    return slot;
  }

  /** Every store into `entries[i]` or `child[i]` outside this class is followed by this. */
  markWritten(i: number): void {
    this.dirty.mark(Math.floor(i / ENTRIES));
  }

  free(slot: number): void {
    this.freeSlots.push(slot);
  }

  /** The used part of the pool, live, with the marks of the slots written. */
  image(): Image<TablePoolSnapshot> {
    const n = this.used;
    return {
      entries: new Tracked(this.entries.subarray(0, n * ENTRIES), ENTRIES, this.dirty),
      child: this.child ? new Tracked(this.child.subarray(0, n * ENTRIES), ENTRIES, this.dirty) : null,
      frame: new Tracked(this.frame.subarray(0, n), 1, this.dirty),
      freeSlots: Int32Array.from(this.freeSlots),
    };
  }

  snapshot(): TablePoolSnapshot {
    return materialize<TablePoolSnapshot>(this.image());
  }

  /** A restored pool is what its store holds, so nothing in it is marked. */
  static restore(s: TablePoolSnapshot): TablePool {
    const slots = Math.max(2, s.frame.length);
    const p = new TablePool(s.child !== null, slots);
    p.entries.set(s.entries);
    if (s.child && p.child) p.child.set(s.child);
    p.frame.set(s.frame);
    p.used = s.frame.length;
    p.freeSlots = [...s.freeSlots];
    return p;
  }
}
