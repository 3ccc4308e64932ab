// The memory model's counters: slots of one Float64Array per VM, so a snapshot is a single copy.
// Slot numbers are stored in snapshots: a new counter takes the next free slot.

import type { MemoryExitReason } from "../exits";
import type { MmuHypercall } from "../hypercalls";

export const C = {
  /** Hardware page walks (TLB misses), two-dimensional or through a shadow table. */
  walks: 0,
  /** Memory references those walks made. */
  walkRefs: 1,
  /** Page faults the guest kernel handled (whether or not they exited first). */
  guestPageFaults: 2,
  /** EPT violations, each a VM exit. */
  eptViolations: 3,
  /** EPT misconfigurations (MMIO accesses), each a VM exit. */
  eptMisconfigs: 4,
  /** Every VM exit, whatever the reason. */
  exits: 5,
  /** Exits on a guest store to a write-protected page table (shadow paging). */
  exitPtWrite: 6,
  /** Exits on a shadow-table miss the guest's own tables would have served (shadow paging). */
  exitShadowFault: 7,
  /** Exits on MOV to CR3 (shadow paging). */
  exitCr3: 8,
  /** Exits on INVLPG (shadow paging). */
  exitInvlpg: 9,
  /** INVEPT single-context invalidations. */
  invept: 10,
  /** INVVPID single-context invalidations. */
  invvpid: 11,
  /** 4 KiB guest-physical frames with host memory behind them. */
  backed: 12,
  /** EPT leaves moved to other host frames. */
  remaps: 13,
  /** MOV to CR3: address-space switches on any vCPU. */
  cr3Switches: 14,
  /** Walks shortened by a paging-structure cache hit. */
  pwcHits: 15,
  /** Nested walks of a guest table served by the nested TLB. */
  ntlbHits: 16,
  /** Exits on a guest page fault the hypervisor reflects into the guest (shadow paging). */
  exitGuestFault: 17,
  /** EPT leaves installed, by size (none is ever taken down while the VM lives); slots follow by level. */
  ept4k: 18,
  ept2m: 19,
  ept1g: 20,
  /** Live guest leaves by size; slots follow by level. */
  guest4k: 21,
  guest2m: 22,
  guest1g: 23,
  /** Live shadow-table leaves. */
  shadowLeaves: 24,
  /** Accesses a TLB answered, at either level, on whichever thread the vCPU ran. */
  tlbHits: 25,
  /** Accesses that missed both TLB levels and walked. */
  tlbMisses: 26,
  /** The part of tlbHits the second-level TLB answered after a first-level miss. */
  stlbHits: 27,
  /** Flushes of a whole context, VPID or TLB this VM caused (MOV to CR3, VM transitions, INVEPT, INVVPID). */
  tlbFlushes: 28,
  /** TLB entries those flushes and the VM's page invalidations dropped. */
  tlbInvalidations: 29,
  /** mmu_update hypercalls (direct paging), each carrying one page-table update or a batch of them. */
  mmuUpdates: 30,
  /** Guest page-table entries written through mmu_update and validated by Xen (direct paging). */
  pageTableUpdates: 31,
  /** mmuext_op hypercalls (direct paging): new tables pinned, CR3 loads, TLB flushes. */
  mmuextOps: 32,
  /** Of `walkRefs`, the references of the nested (EPT) dimension: what a native walk would not make. */
  nestedRefs: 33,
  /** Stores the guest kernel made into its own page tables (mapping, linking a table, unmapping). */
  ptWrites: 34,
} as const;
export const NCOUNTERS = 35;

/** The counter of each hypercall the memory model makes for a paravirtual guest. */
export const HYPERCALL_COUNTER: Record<MmuHypercall, number> = {
  mmu_update: C.mmuUpdates,
  mmuext_op: C.mmuextOps,
};

/** The counter each exit reason increments beside `exits`. */
export const EXIT_COUNTER: Record<MemoryExitReason, number> = {
  ept_violation: C.eptViolations,
  ept_misconfig: C.eptMisconfigs,
  page_table_write: C.exitPtWrite,
  shadow_page_fault: C.exitShadowFault,
  cr_access: C.exitCr3,
  invlpg: C.exitInvlpg,
  guest_page_fault: C.exitGuestFault,
};
