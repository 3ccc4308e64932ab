// Shadow paging, as hypervisors did it before EPT: the hardware walks tables the hypervisor builds
// (GVA → HPA) from the guest's tables and its own GPA → HPA map, and keeps them in step by
// write-protecting the guest's tables and intercepting #PF, CR3 writes and INVLPG.

import {
  ENTRIES,
  leafLevel,
  ORDER_4K,
  PAGE_4K,
  type PageSize,
  PTE_A,
  PTE_D,
  PTE_G,
  PTE_P,
  PTE_PS,
  PTE_RW,
  PTE_US,
  SPAN,
} from "./constants";
import { C } from "./counters";
import { handleEptViolation } from "./ept";
import { PAGING_FORMAT, RadixTable } from "./radix";
import type { EptLeaf, VmMemory } from "./vm";

/**
 * The hypervisor's shadow-fault handler: reads the guest PTE in software and builds the
 * shadow entry GVA → HPA. Returns false when the guest itself has no mapping (a real #PF).
 */
export function syncShadow(vm: VmMemory, asid: number, gva: number, write: boolean): boolean {
  const leaf = vm.guestLeaf(asid, gva);
  if (leaf === null || (write && !leaf.writable)) return false;
  setGuestAccessed(vm, asid, gva, write);
  let host = vm.eptLeaf(leaf.gpa);
  if (host === null) {
    // Without EPT hardware, the EPT tables are the hypervisor's own GPA → HPA map, filled the same way.
    handleEptViolation(vm, leaf.gpa);
    host = vm.eptLeaf(leaf.gpa) as EptLeaf;
  }
  const size = Math.min(leaf.size, host.size) as PageSize;
  const level = leafLevel(size);
  const vpn = Math.floor(gva / PAGE_4K);
  const spt = vm.spt as RadixTable;
  let slot = spt.descend((vm.sRoot as Int32Array)[asid], vpn, level);
  for (let l = spt.level; l > level; l--) slot = spt.link(slot, vpn, l, vm.hostFrame(ORDER_4K, true));
  const pool = spt.pool(level);
  const i = spt.index(slot, vpn, level);
  const hpaBase = host.hpa - (leaf.gpa % size);
  // Read-only until the guest PTE is dirty, so the first write traps and sets D (dirty tracking).
  const rw = leaf.writable && (leaf.dirty || write) ? PTE_RW : 0;
  if (pool.entries[i] === 0) vm.counters[C.shadowLeaves]++;
  // The guest's global bit carries over, so the hardware keeps kernel entries across CR3 writes here too.
  const global = leaf.global ? PTE_G : 0;
  pool.entries[i] = hpaBase + PTE_P + rw + PTE_US + PTE_A + global + (level > 1 ? PTE_PS : 0);
  pool.markWritten(i);
  return true;
}

/** What the hardware walk would have done to the guest's entries: set A on the path and D on a write. */
function setGuestAccessed(vm: VmMemory, asid: number, gva: number, write: boolean): void {
  const gpt = vm.gpt;
  const vpn = Math.floor(gva / PAGE_4K);
  let slot = vm.gRoot[asid];
  for (let l = gpt.levels; l >= 1; l--) {
    const pool = gpt.pool(l);
    const i = gpt.index(slot, vpn, l);
    let e = pool.entries[i];
    if ((e & PTE_A) === 0) e += PTE_A;
    const leaf = l === 1 || (e & PTE_PS) !== 0;
    if (leaf && write && (e & PTE_D) === 0) e += PTE_D;
    if (pool.entries[i] !== e) {
      pool.entries[i] = e;
      pool.markWritten(i);
    }
    if (leaf) return;
    slot = gpt.child(i);
  }
}

/** Clears shadow leaves inside [gva, gva+bytes) after the guest changed its mapping. */
export function zapShadow(vm: VmMemory, asid: number, gva: number, bytes: number): void {
  const spt = vm.spt as RadixTable;
  const base = Math.floor(gva / bytes) * bytes;
  const zap = (slot: number, level: number, start: number): void => {
    const span = SPAN[level] * PAGE_4K;
    const pool = spt.pool(level);
    for (let idx = 0; idx < ENTRIES; idx++) {
      const lo = start + idx * span;
      if (lo + span <= base || lo >= base + bytes) continue;
      const i = slot * ENTRIES + idx;
      const e = pool.entries[i];
      if ((e & PTE_P) === 0) continue;
      if (level === 1 || (e & PTE_PS) !== 0) {
        pool.entries[i] = 0;
        pool.markWritten(i);
        vm.counters[C.shadowLeaves]--;
      } else zap(spt.child(i), level - 1, lo);
    }
  };
  zap((vm.sRoot as Int32Array)[asid], spt.levels, 0);
}

/** Frees every shadow table and starts each address space again from an empty root. */
export function dropShadowTables(vm: VmMemory): void {
  const old = vm.spt as RadixTable;
  for (const pool of [old.dir, old.leaf]) {
    for (let s = 0; s < pool.used; s++) vm.host.free(pool.frame[s], ORDER_4K, vm.owner);
  }
  const spt = new RadixTable(vm.guestLevels, PAGING_FORMAT);
  vm.spt = spt;
  vm.counters[C.shadowLeaves] = 0;
  const roots = vm.sRoot as Int32Array;
  // A shadow root exists only where a guest root does.
  for (let a = 0; a < vm.spaceLimit; a++) {
    if (roots[a] >= 0) roots[a] = spt.dir.alloc(vm.hostFrame(ORDER_4K, true));
  }
}
