// A radix tree of 512-entry tables, the shape shared by the guest's page tables, the EPT and shadow
// tables. Entry formats: Intel SDM Vol. 3A §4.5 (IA-32e paging) and Vol. 3C §29.3.2 (EPT).

import { ENTRIES, EPT_RWX, PAGE_4K, PTE_P, PTE_PS, PTE_RW, PTE_US, SPAN } from "./constants";
import { TablePool } from "./tables";

/** What tells the two entry formats apart for a software walk. Bit 7 marks a large leaf in both. */
export interface EntryFormat {
  /** Any of these bits makes an entry present. */
  present: number;
  /** The flags of an entry that points at a lower table. */
  dirFlags: number;
}

/** IA-32e paging entries: the guest's tables, and shadow tables, which the hardware walks as if they were. */
export const PAGING_FORMAT: EntryFormat = { present: PTE_P, dirFlags: PTE_P + PTE_RW + PTE_US };
/** EPT entries: present when any of read, write or execute is allowed. */
export const EPT_FORMAT: EntryFormat = { present: EPT_RWX, dirFlags: EPT_RWX };

/**
 * One set of tables of `levels` levels, with as many roots as its owner keeps (one per address space
 * for guest and shadow tables, one for the EPT). The hot walks in vm.ts read the pools directly;
 * these methods are the software walks of the guest kernel and the hypervisor, which count no
 * memory references.
 */
export class RadixTable {
  /** Tables at levels 2 and up, whose entries may point at lower tables. */
  declare dir: TablePool;
  /** Tables at level 1: leaf entries only. */
  declare leaf: TablePool;
  declare readonly levels: number;
  declare readonly present: number;
  declare readonly dirFlags: number;
  /** Level of the entry where the last `findLeaf` or `descend` stopped. */
  level = 0;

  constructor(levels: number, format: EntryFormat, dir = new TablePool(true), leaf = new TablePool(false)) {
    this.dir = dir;
    this.leaf = leaf;
    this.levels = levels;
    this.present = format.present;
    this.dirFlags = format.dirFlags;
  }

  /** Tables in use, all levels together. */
  get live(): number {
    return this.dir.live + this.leaf.live;
  }

  /** The pool that holds tables of `level`. */
  pool(level: number): TablePool {
    return level === 1 ? this.leaf : this.dir;
  }

  /** Index, in its pool, of the entry for page `pn` at `level` in the table at `slot`. */
  index(slot: number, pn: number, level: number): number {
    return slot * ENTRIES + (Math.floor(pn / SPAN[level]) & 511);
  }

  /** Pool slot of the table that directory entry `i` points at. */
  child(i: number): number {
    return (this.dir.child as Int32Array)[i];
  }

  /**
   * The entry that maps page `pn` from the tree at `root`: its index in `pool(this.level)`, or -1
   * when some level on the way is not present.
   */
  findLeaf(root: number, pn: number): number {
    let slot = root;
    for (let l = this.levels; l >= 1; l--) {
      const i = this.index(slot, pn, l);
      const e = this.pool(l).entries[i];
      if ((e & this.present) === 0) return -1;
      if (l === 1 || (e & PTE_PS) !== 0) {
        this.level = l;
        return i;
      }
      slot = this.child(i);
    }
    return -1;
  }

  /** True when nothing is mapped anywhere in the aligned region that one entry at `level` covers. */
  regionFree(root: number, pn: number, level: number): boolean {
    let slot = root;
    for (let l = this.levels; l > level; l--) {
      const i = this.index(slot, pn, l);
      const e = this.dir.entries[i];
      if ((e & this.present) === 0) return true;
      if ((e & PTE_PS) !== 0) return false;
      slot = this.child(i);
    }
    return this.pool(level).entries[this.index(slot, pn, level)] === 0;
  }

  /**
   * Follows directory entries from `root` toward the table at `level` and returns the slot of the
   * deepest table it reaches; `this.level` says which level that is. Tables from there down are
   * missing, and `link` adds them one at a time.
   */
  descend(root: number, pn: number, level: number): number {
    let slot = root;
    let l = this.levels;
    for (; l > level; l--) {
      const i = this.index(slot, pn, l);
      const e = this.dir.entries[i];
      if ((e & this.present) === 0 || (e & PTE_PS) !== 0) break;
      slot = this.child(i);
    }
    this.level = l;
    return slot;
  }

  /**
   * Points the entry for `pn` at `level` of the table at `slot` to a new, empty table held in
   * `frame`, and returns the new table's slot.
   */
  link(slot: number, pn: number, level: number, frame: number): number {
    const next = this.pool(level - 1).alloc(frame);
    // Write only after alloc: a pool that grows replaces its arrays.
    const i = this.index(slot, pn, level);
    this.dir.entries[i] = frame * PAGE_4K + this.dirFlags;
    (this.dir.child as Int32Array)[i] = next;
    this.dir.markWritten(i);
    return next;
  }
}
