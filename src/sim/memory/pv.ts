// Xen PV direct paging (Barham et al., "Xen and the Art of Virtualization", SOSP 2003, §2.1.1): the
// guest's page tables are the ones the MMU walks. Xen owns every frame and lets the guest read its
// tables but not write them; each update is a validated mmu_update hypercall, batched the way Linux's
// arch/x86/xen/mmu_pv.c batches them (hypercalls.ts). No VM exits: a PV guest never leaves to root mode.

import { MMU_UPDATES_PER_BATCH } from "../hypercalls";
import { PAGE_4K } from "./constants";
import { C } from "./counters";
import { handleEptViolation } from "./ept";
import type { VmMemory } from "./vm";

/**
 * The domain builder's populate_physmap: a PV guest gets all its memory when it is built, since its
 * tables will name machine frames and Xen must know they are its own. The model keeps the
 * pseudo-physical-to-machine map (the P2M) in the VM's EPT tables, filled with the largest leaves the
 * host can give, which the hardware never walks for this guest.
 */
export function populatePhysmap(vm: VmMemory): void {
  let gpa = 0;
  while (gpa < vm.memoryBytes) {
    handleEptViolation(vm, gpa);
    const leaf = vm.eptLeaf(gpa);
    gpa += leaf ? leaf.size - (gpa % leaf.size) : PAGE_4K;
  }
}

/**
 * One guest page-table entry written through Xen. Inside a lazy-MMU section the update joins the open
 * batch, which goes to Xen as one mmu_update when it holds MMU_UPDATES_PER_BATCH; outside one it is a
 * hypercall of its own (__xen_set_pte's HYPERVISOR_mmu_update(&u, 1, ...)).
 */
export function mmuUpdate(vm: VmMemory): void {
  vm.counters[C.pageTableUpdates]++;
  if (vm.mmuBatch < 0) {
    vm.counters[C.mmuUpdates]++;
    return;
  }
  vm.mmuBatch++;
  if (vm.mmuBatch === MMU_UPDATES_PER_BATCH) {
    vm.counters[C.mmuUpdates]++;
    vm.mmuBatch = 0;
  }
}

/** One mmuext_op hypercall: pinning a new table, loading CR3 (MMUEXT_NEW_BASEPTR), a TLB flush. */
export function mmuextOp(vm: VmMemory): void {
  vm.counters[C.mmuextOps]++;
}

/**
 * A TLB flush after the guest took a mapping away: Xen flushes every vCPU that may hold it
 * (MMUEXT_INVLPG_MULTI or TLB_FLUSH_MULTI, no IPIs). Inside a lazy-MMU section it waits for the
 * section's end and goes once, as the flush of a munmap follows its whole zap.
 */
export function tlbFlush(vm: VmMemory): void {
  if (vm.mmuBatch >= 0) vm.flushPending = true;
  else mmuextOp(vm);
}

/** arch_enter_lazy_mmu_mode: page-table updates from here on are batched. */
export function enterLazyMmu(vm: VmMemory): void {
  vm.mmuBatch = 0;
  vm.flushPending = false;
}

/** arch_leave_lazy_mmu_mode: what is still queued goes to Xen (xen_mc_flush). */
export function leaveLazyMmu(vm: VmMemory): void {
  if (vm.mmuBatch > 0) vm.counters[C.mmuUpdates]++;
  vm.mmuBatch = -1;
  if (vm.flushPending) mmuextOp(vm);
  vm.flushPending = false;
}
