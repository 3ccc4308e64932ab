// The guest kernel's side of its page tables: it creates an address space, maps a page on a page
// fault (the largest leaf its policy allows), zeroes what it hands out, and unmaps. Like Linux without
// page-table isolation, it maps itself in the upper half of every address space, from tables all of
// them share, with global leaves (CR4.PGE set). A paravirtual guest makes each of those table changes
// through Xen (pv.ts), and has no global pages.

import {
  ENTRIES,
  entryFrame,
  leafBytes,
  leafLevel,
  leafOrder,
  ORDER_4K,
  type Order,
  PAGE_4K,
  PTE_G,
  PTE_P,
  PTE_PS,
  PTE_RW,
  PTE_US,
  SPAN,
} from "./constants";
import { C } from "./counters";
import { handleEptViolation } from "./ept";
import { enterLazyMmu, leaveLazyMmu, mmuextOp, mmuUpdate, tlbFlush } from "./pv";
import { zapShadow } from "./shadow";
import type { TablePool } from "./tables";
import type { VmMemory } from "./vm";

/** Guest allocator owners: data pages vs page-table pages (the guest OS knows which is which). */
const GUEST_DATA = 1;
const GUEST_PT = 2;

/**
 * A new process: its top-level table (CR3), whose upper half points at the kernel's tables as every
 * other process's does (Linux copies them from init_mm's), and under shadow paging the hypervisor's
 * shadow root.
 */
export function createSpace(vm: VmMemory, asid: number): void {
  const gfn = guestFrame(vm, ORDER_4K, GUEST_PT);
  guestZero(vm, gfn * PAGE_4K, PAGE_4K);
  const root = vm.gpt.dir.alloc(gfn);
  let other = -1;
  for (let a = 0; a < vm.spaceLimit && other < 0; a++) if (vm.gRoot[a] >= 0) other = a;
  if (other >= 0) {
    // A table nothing walks yet: under shadow paging the copy is no write to a protected page.
    const dir = vm.gpt.dir;
    const from = vm.gRoot[other] * ENTRIES + KERNEL_INDEX;
    dir.entries.copyWithin(root * ENTRIES + KERNEL_INDEX, from, from + ENTRIES - KERNEL_INDEX);
    (dir.child as Int32Array).copyWithin(root * ENTRIES + KERNEL_INDEX, from, from + ENTRIES - KERNEL_INDEX);
  }
  vm.gRoot[asid] = root;
  if (asid >= vm.spaceLimit) vm.spaceLimit = asid + 1;
  if (vm.sRoot !== null && vm.spt !== null) vm.sRoot[asid] = vm.spt.dir.alloc(vm.hostFrame(ORDER_4K, true));
  // A PV guest's new top-level table is validated and pinned before it can be loaded (xen_pgd_pin's
  // MMUEXT_PIN_L4_TABLE, in one multicall with the read-only remaps).
  if (vm.direct) mmuextOp(vm);
}

/** A #PF reaches the guest kernel, which maps gva. Under shadow paging it arrives by way of an exit. */
export function handleGuestPageFault(vm: VmMemory, vcpu: number, asid: number, gva: number): void {
  vm.counters[C.guestPageFaults]++;
  // Under shadow paging the hypervisor intercepts #PF and reflects the real ones.
  if (vm.shadow) vm.vmExit("guest_page_fault", vcpu);
  guestMap(vm, asid, gva);
}

function guestFrame(vm: VmMemory, order: Order, kind: number): number {
  const f = vm.guestAlloc.alloc(order, kind);
  if (f < 0 && order === ORDER_4K) throw new RangeError("guest out of memory");
  return f;
}

/** The guest zeroes a fresh page, touching its GPAs: this is where demand paging bites. */
function guestZero(vm: VmMemory, gpa: number, bytes: number): void {
  const end = gpa + bytes;
  let g = gpa;
  while (g < end) {
    let r = vm.eptWalk(g);
    if (r < 0) {
      vm.vmExit(vm.shadow ? "shadow_page_fault" : "ept_violation", vm.vcpuNow);
      handleEptViolation(vm, g);
      r = vm.eptWalk(g);
    }
    g = (Math.floor(g / vm.lastEptSize) + 1) * vm.lastEptSize;
  }
}

/** First top-level index of the kernel's half of the address space. */
const KERNEL_INDEX = ENTRIES / 2;

/** True for pages in the upper (kernel) half of the canonical address space. */
export function inKernelHalf(vm: VmMemory, vpn: number): boolean {
  return Math.floor(vpn / SPAN[vm.guestLevels]) >= KERNEL_INDEX;
}

/** The guest kernel's page-fault handler: maps gva with the largest leaf that fits. */
function guestMap(vm: VmMemory, asid: number, gva: number): void {
  const gpt = vm.gpt;
  const root = vm.gRoot[asid];
  const vpn = Math.floor(gva / PAGE_4K);
  const kernel = inKernelHalf(vm, vpn);
  // A 64-bit PV guest's kernel runs in ring 3 as its processes do, and Xen switches page tables to pass
  // between them: a global kernel entry would stay visible to user mode. Linux keeps CR4.PGE clear
  // under Xen PV (xen_write_cr4 masks it, arch/x86/xen/enlighten_pv.c): its kernel's leaves are not global.
  const global = kernel && !vm.direct ? PTE_G : 0;
  for (let level = leafLevel(vm.opts.guestPageSize); level >= 1; level--) {
    if (!gpt.regionFree(root, vpn, level)) continue;
    const gfn = guestFrame(vm, leafOrder(level), GUEST_DATA);
    if (gfn < 0) continue;
    guestZero(vm, gfn * PAGE_4K, leafBytes(level));
    const slot = guestTableFor(vm, root, vpn, level);
    const user = kernel ? 0 : PTE_US;
    const leaf = gfn * PAGE_4K + PTE_P + PTE_RW + user + global + (level > 1 ? PTE_PS : 0);
    writeGuestLeaf(vm, gpt.pool(level), gpt.index(slot, vpn, level), leaf);
    vm.counters[C.guest4k + level - 1]++;
    return;
  }
  throw new RangeError(`guest could not map ${gva}`);
}

/** The table at `level` on vpn's path, with missing tables above it made the way a guest kernel does. */
function guestTableFor(vm: VmMemory, root: number, vpn: number, level: number): number {
  const gpt = vm.gpt;
  let slot = gpt.descend(root, vpn, level);
  for (let l = gpt.level; l > level; l--) {
    const gfn = guestFrame(vm, ORDER_4K, GUEST_PT);
    guestZero(vm, gfn * PAGE_4K, PAGE_4K);
    // Xen validates a PV guest's new table before it is linked: Linux makes the page read-only and,
    // for a PTE page, pins it (MMUEXT_PIN_L1_TABLE), one multicall in xen_alloc_ptpage, counted as
    // the mmuext_op it carries.
    if (vm.direct) mmuextOp(vm);
    // Linking the table is a store into the table above, as any guest PTE write is.
    ptWrite(vm);
    slot = gpt.link(slot, vpn, l, gfn);
    if (l === gpt.levels && inKernelHalf(vm, vpn)) shareKernelEntry(vm, root, vpn);
  }
  return slot;
}

/** A new top-level kernel entry goes into every address space's table (Linux's sync_global_pgds). */
function shareKernelEntry(vm: VmMemory, root: number, vpn: number): void {
  const gpt = vm.gpt;
  const i = gpt.index(root, vpn, gpt.levels);
  const child = gpt.dir.child as Int32Array;
  for (let a = 0; a < vm.spaceLimit; a++) {
    const r = vm.gRoot[a];
    if (r < 0 || r === root) continue;
    const j = gpt.index(r, vpn, gpt.levels);
    ptWrite(vm);
    gpt.dir.entries[j] = gpt.dir.entries[i];
    child[j] = child[i];
  }
}

/** A guest store of a leaf entry. */
function writeGuestLeaf(vm: VmMemory, pool: TablePool, i: number, value: number): void {
  ptWrite(vm);
  pool.entries[i] = value;
  if (pool.child !== null) pool.child[i] = -1;
  pool.markWritten(i);
}

/**
 * A guest store into one of its page tables: under shadow paging those pages are write-protected, and
 * a paravirtual guest cannot write them at all, so it asks Xen with an mmu_update.
 */
function ptWrite(vm: VmMemory): void {
  vm.counters[C.ptWrites]++;
  if (vm.shadow) vm.vmExit("page_table_write", vm.vcpuNow);
  else if (vm.direct) mmuUpdate(vm);
}

/** munmap of gva's page: clear the PTE, free the guest frame, shoot down every vCPU's TLB. */
export function unmapGuest(vm: VmMemory, asid: number, gva: number): boolean {
  if (vm.gRoot[asid] < 0) return false;
  const gpt = vm.gpt;
  const i = gpt.findLeaf(vm.gRoot[asid], Math.floor(gva / PAGE_4K));
  if (i < 0) return false;
  const l = gpt.level;
  const pool = gpt.pool(l);
  const e = pool.entries[i];
  writeGuestLeaf(vm, pool, i, 0);
  vm.guestAlloc.free(entryFrame(e), leafOrder(l), GUEST_DATA);
  vm.counters[C.guest4k + l - 1]--;
  shootDown(vm, asid, gva, l);
  return true;
}

/**
 * A page-table update that keeps gva's mapping (mprotect, or fork marking a page copy-on-write): the guest
 * rewrites the leaf entry and shoots down every vCPU's TLB, as for an unmap, but the frame stays.
 */
export function rewriteGuestLeaf(vm: VmMemory, asid: number, gva: number): boolean {
  if (vm.gRoot[asid] < 0) return false;
  const gpt = vm.gpt;
  const i = gpt.findLeaf(vm.gRoot[asid], Math.floor(gva / PAGE_4K));
  if (i < 0) return false;
  const l = gpt.level;
  const pool = gpt.pool(l);
  writeGuestLeaf(vm, pool, i, pool.entries[i]);
  shootDown(vm, asid, gva, l);
  return true;
}

/** After the guest changed the entry for gva's page (a leaf at level `l`): every vCPU forgets it. */
function shootDown(vm: VmMemory, asid: number, gva: number, l: number): void {
  if (vm.shadow) {
    // A kernel page is unmapped from every address space at once, and so from every shadow of one.
    if (inKernelHalf(vm, Math.floor(gva / PAGE_4K))) {
      for (let a = 0; a < vm.spaceLimit; a++) if (vm.gRoot[a] >= 0) zapShadow(vm, a, gva, leafBytes(l));
    } else zapShadow(vm, asid, gva, leafBytes(l));
  }
  // A PV guest has Xen flush every vCPU in one hypercall, where an HVM guest sends IPIs.
  if (vm.direct) tlbFlush(vm);
  // The guest's INVLPG on this vCPU and its shootdown IPIs to the others. A large page may sit in the
  // TLB as many smaller entries: they all go, and a global one goes from every PCID.
  const ctx = vm.ctx(asid);
  for (let v = 0; v < vm.tlbs.length; v++) {
    if (vm.shadow) vm.vmExit("invlpg", v);
    const tlb = vm.tlbs[v];
    if (vm.holdsEntriesIn(tlb)) vm.counters[C.tlbInvalidations] += tlb.invalidatePage(gva, ctx, leafBytes(l));
    vm.flushPwc(v);
  }
}

/**
 * munmap of [gva, gva + bytes): every leaf in it, one by one, as Linux's zap_pte_range does inside a
 * lazy-MMU section, so a paravirtual guest's updates reach Xen in batches and its TLB flush once.
 */
export function unmapGuestRange(vm: VmMemory, asid: number, gva: number, bytes: number): number {
  if (vm.gRoot[asid] < 0) return 0;
  let unmapped = 0;
  if (vm.direct) enterLazyMmu(vm);
  try {
    for (let a = gva; a < gva + bytes; ) {
      const leaf = vm.guestLeaf(asid, a);
      if (leaf !== null && unmapGuest(vm, asid, a)) unmapped++;
      const step = leaf?.size ?? PAGE_4K;
      a = (Math.floor(a / step) + 1) * step;
    }
  } finally {
    if (vm.direct) leaveLazyMmu(vm);
  }
  return unmapped;
}
