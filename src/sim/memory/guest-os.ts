// The guest kernel's side of its page tables: it creates an address space, maps a page on a page
// fault (the largest leaf its policy allows), zeroes what it hands out, and unmaps.

import {
  entryFrame,
  leafBytes,
  leafLevel,
  leafOrder,
  ORDER_4K,
  type Order,
  PAGE_4K,
  PTE_P,
  PTE_PS,
  PTE_RW,
  PTE_US,
} from "./constants";
import { C } from "./counters";
import { handleEptViolation } from "./ept";
import { zapShadow } from "./shadow";
import type { TablePool } from "./tables";
import type { VmMemory } from "./vm";

/** Guest allocator owners: data pages vs page-table pages (the guest OS knows which is which). */
const GUEST_DATA = 1;
const GUEST_PT = 2;

/** A new process: its top-level table (CR3), and under shadow paging the hypervisor's shadow root. */
export function createSpace(vm: VmMemory, asid: number): void {
  const gfn = guestFrame(vm, ORDER_4K, GUEST_PT);
  guestZero(vm, gfn * PAGE_4K, PAGE_4K);
  vm.gRoot[asid] = vm.gpt.dir.alloc(gfn);
  if (vm.sRoot !== null && vm.spt !== null) vm.sRoot[asid] = vm.spt.dir.alloc(vm.hostFrame(ORDER_4K, true));
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

/** The guest kernel's page-fault handler: maps gva with the largest leaf that fits. */
function guestMap(vm: VmMemory, asid: number, gva: number): void {
  const gpt = vm.gpt;
  const root = vm.gRoot[asid];
  const vpn = Math.floor(gva / PAGE_4K);
  for (let level = leafLevel(vm.opts.guestPageSize); level >= 1; level--) {
    if (!gpt.regionFree(root, vpn, level)) continue;
    const gfn = guestFrame(vm, leafOrder(level), GUEST_DATA);
    if (gfn < 0) continue;
    guestZero(vm, gfn * PAGE_4K, leafBytes(level));
    const slot = guestTableFor(vm, root, vpn, level);
    const leaf = gfn * PAGE_4K + PTE_P + PTE_RW + PTE_US + (level > 1 ? PTE_PS : 0);
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
    // Linking the table is a store into the table above, as any guest PTE write is.
    ptWrite(vm);
    slot = gpt.link(slot, vpn, l, gfn);
  }
  return slot;
}

/** A guest store of a leaf entry. */
function writeGuestLeaf(vm: VmMemory, pool: TablePool, i: number, value: number): void {
  ptWrite(vm);
  pool.entries[i] = value;
  if (pool.child !== null) pool.child[i] = -1;
}

/** A guest store into one of its page tables; under shadow paging those pages are write-protected. */
function ptWrite(vm: VmMemory): void {
  vm.counters[C.ptWrites]++;
  if (vm.shadow) vm.vmExit("page_table_write", vm.vcpuNow);
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
  if (vm.shadow) zapShadow(vm, asid, gva, leafBytes(l));
  for (let v = 0; v < vm.tlbs.length; v++) {
    if (vm.shadow) vm.vmExit("invlpg", v);
    const ctx = vm.tagged ? vm.vpid * 4096 + asid : 0;
    // A large guest page may sit in the TLB as many smaller entries: drop the context.
    if (l === 1) vm.tlbs[v].invalidatePage(gva, ctx);
    else vm.tlbs[v].flushContext(ctx);
    vm.flushPwc(v);
  }
}
