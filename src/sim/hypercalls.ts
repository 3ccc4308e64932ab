// The Xen hypercalls the CPU and memory models count, and how a Linux PV guest batches its page-table
// updates into them: one vocabulary, so a hypercall the memory model counts is the one the CPU model
// prices. Names as in Xen's public/xen.h (__HYPERVISOR_*); batching as in Linux arch/x86/xen/multicalls.c
// and mmu_pv.c.

/**
 * Xen hypercalls a paravirtual guest (or an HVM guest's PV drivers) issues instead of trapping. The CPU
 * model's counter slots and snapshots follow this order, so a new one goes at the end.
 */
export const HYPERCALLS = [
  "mmu_update",
  "mmuext_op",
  "set_segment_base",
  "sched_op",
  "set_timer_op",
  "event_channel_op",
  "grant_table_op",
  "physdev_op",
  "memory_op",
] as const;
export type Hypercall = (typeof HYPERCALLS)[number];

/** The hypercalls of a PV guest's memory management, which the memory model counts. */
export const MMU_HYPERCALLS = ["mmu_update", "mmuext_op"] as const satisfies readonly Hypercall[];
export type MmuHypercall = (typeof MMU_HYPERCALLS)[number];

/**
 * Page-table updates one mmu_update hypercall carries when Linux batches them. In lazy MMU mode (fork's
 * copy, munmap's zap, mprotect) xen_extend_mmu_update appends each `struct mmu_update` (16 bytes) to the
 * open multicall entry until the per-CPU argument buffer is full: MC_ARGS = MC_BATCH (32) × 16 bytes, so
 * 32 updates; the batch is issued when it fills or the lazy section ends. Outside lazy mode (a page
 * fault's set_pte_at) __xen_set_pte makes one mmu_update hypercall per entry.
 */
export const MMU_UPDATES_PER_BATCH = 32;
