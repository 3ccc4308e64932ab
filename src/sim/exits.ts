// Why a guest left non-root mode: the one vocabulary of VM exits that the CPU and memory models count,
// price and report in. Names are the Intel SDM's basic exit reasons (Vol. 3C, appendix C) in snake_case,
// spelt as Linux spells them (EXIT_REASON_* in arch/x86/include/uapi/asm/vmx.h).

/**
 * Every exit reason a model produces, in the order of the SDM's basic exit reason numbers (in the
 * comments). Each model declares its own subset below, checked against this list by the compiler.
 *
 * The first three are all basic reason 0, "exception or NMI", with vector 14 (#PF): under shadow
 * paging the hypervisor intercepts every guest page fault. The SDM has one name for them, but what
 * the hypervisor's handler finds sets the cost, and the split is what the shadow-versus-EPT
 * comparison is about, so each outcome has its own name (KVM counts them apart too, as `pf_fixed`,
 * `pf_guest` and `mmu_pte_write` in arch/x86/kvm/x86.c):
 * - `shadow_page_fault`: the guest maps the address, the shadow table did not yet; the hypervisor
 *   fills the shadow entry and resumes the guest (a "hidden" fault).
 * - `guest_page_fault`: the guest's own tables do not map it; the hypervisor reflects the #PF
 *   into the guest. The same name reports such a fault where no exit is taken (under EPT).
 * - `page_table_write`: a store to a guest page table, which the hypervisor write-protects to
 *   keep its shadow in step; it emulates the store.
 */
export const VM_EXIT_REASONS = [
  "shadow_page_fault", // 0, #PF
  "guest_page_fault", // 0, #PF
  "page_table_write", // 0, #PF
  "external_interrupt", // 1
  "cpuid", // 10
  "hlt", // 12
  "invlpg", // 14
  "vmcall", // 18
  "cr_access", // 28 (MOV to CR3 among them)
  "io_instruction", // 30
  "msr_read", // 31 (RDMSR)
  "msr_write", // 32 (WRMSR)
  "apic_access", // 44
  "ept_violation", // 48
  "ept_misconfig", // 49
] as const;
export type VmExitReason = (typeof VM_EXIT_REASONS)[number];

/**
 * The exits the CPU model prices and counts. Its counter slots and snapshots follow this order,
 * so a new reason goes at the end.
 */
export const EXIT_REASONS = [
  "cpuid",
  "msr_read",
  "msr_write",
  "cr_access",
  "hlt",
  "io_instruction",
  "ept_violation",
  "external_interrupt",
  "apic_access",
  "vmcall",
] as const satisfies readonly VmExitReason[];
export type ExitReason = (typeof EXIT_REASONS)[number];

/** The exits the memory model counts: its two-dimensional walk, shadow paging and TLB maintenance. */
export const MEMORY_EXIT_REASONS = [
  "ept_violation",
  "ept_misconfig",
  "shadow_page_fault",
  "guest_page_fault",
  "page_table_write",
  "cr_access",
  "invlpg",
] as const satisfies readonly VmExitReason[];
export type MemoryExitReason = (typeof MEMORY_EXIT_REASONS)[number];
