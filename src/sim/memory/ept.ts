// The hypervisor's side of the EPT: backing guest-physical memory when the guest first touches it
// (an EPT violation, SDM Vol. 3C §29.3.3.2) and moving that backing later.

import {
  EPT_PS,
  EPT_RWX,
  EPT_W,
  entryFrame,
  leafBytes,
  leafLevel,
  leafOrder,
  ORDER_4K,
  PAGE_4K,
  type PageSize,
  SPAN,
} from "./constants";
import { C } from "./counters";
import { HostMemoryExhausted } from "./frames";
import type { VmMemory } from "./vm";

/**
 * The EPT-violation handler: backs `gpa` with the largest EPT leaf whose aligned region is empty and
 * inside RAM (demand paging). A GPA in the MMIO window above RAM gets a reserved entry instead.
 */
export function handleEptViolation(vm: VmMemory, gpa: number): void {
  const ept = vm.ept;
  const gfn = Math.floor(gpa / PAGE_4K);
  if (gpa >= vm.memoryBytes) {
    if (gpa >= vm.memoryBytes + vm.opts.mmioBytes) throw new RangeError(`gpa ${gpa} is not RAM`);
    // KVM's MMIO trick: a reserved (write-only) entry makes later accesses misconfigurations.
    const slot = eptTableFor(vm, gfn, 1);
    const i = ept.index(slot, gfn, 1);
    ept.leaf.entries[i] = EPT_W;
    ept.leaf.markWritten(i);
    return;
  }
  for (let level = leafLevel(vm.opts.eptPageSize); level >= 1; level--) {
    const span = SPAN[level];
    const base = Math.floor(gfn / span) * span;
    if ((base + span) * PAGE_4K > vm.memoryBytes || !ept.regionFree(vm.eptRoot, gfn, level)) continue;
    const hfn = vm.hostFrame(leafOrder(level), false);
    if (hfn < 0) continue;
    const slot = eptTableFor(vm, gfn, level);
    const pool = ept.pool(level);
    const i = ept.index(slot, gfn, level);
    pool.entries[i] = hfn * PAGE_4K + EPT_RWX + (level > 1 ? EPT_PS : 0);
    pool.markWritten(i);
    vm.counters[C.backed] += span;
    vm.counters[C.ept4k + level - 1]++;
    return;
  }
  throw new HostMemoryExhausted(`no host frame left to back gpa ${gpa}`);
}

/** The EPT table at `level` on gfn's path, with any missing tables above it made from host frames. */
function eptTableFor(vm: VmMemory, gfn: number, level: number): number {
  const ept = vm.ept;
  let slot = ept.descend(vm.eptRoot, gfn, level);
  for (let l = ept.level; l > level; l--) slot = ept.link(slot, gfn, l, vm.hostFrame(ORDER_4K, true));
  return slot;
}

/**
 * Moves the backing of gpa's EPT leaf to another host block (compaction, NUMA moves):
 * copy, repoint, free the old block, then INVEPT so no vCPU keeps the stale HPA.
 */
export function remapBacking(
  vm: VmMemory,
  gpa: number,
): { gpa: number; size: PageSize; oldHpa: number; newHpa: number } | null {
  // A PV guest's own tables name its machine frames: Xen cannot move one behind the guest's back.
  if (vm.direct) return null;
  const ept = vm.ept;
  const i = ept.findLeaf(vm.eptRoot, Math.floor(gpa / PAGE_4K));
  if (i < 0) return null;
  const level = ept.level;
  const pool = ept.pool(level);
  const e = pool.entries[i];
  if ((e & 3) === EPT_W) return null;
  const order = leafOrder(level);
  const fresh = vm.hostFrame(order, false);
  if (fresh < 0) return null;
  const old = entryFrame(e);
  pool.entries[i] = fresh * PAGE_4K + (e & 0xfff);
  pool.markWritten(i);
  vm.host.free(old, order, vm.owner);
  vm.invept();
  vm.counters[C.remaps]++;
  const size = leafBytes(level);
  return { gpa: Math.floor(gpa / size) * size, size, oldHpa: old * PAGE_4K, newHpa: fresh * PAGE_4K };
}
