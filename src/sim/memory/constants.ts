// x86-64 paging constants: page sizes, radix geometry and entry bits.
// Source: Intel SDM Vol. 3A ch. 4 (4- and 5-level paging) and ch. 29 (EPT entry format).

import type { MemoryExitReason } from "../exits";

export const PAGE_4K = 4096;
export const PAGE_2M = 2 * 1024 * 1024;
export const PAGE_1G = 1024 * 1024 * 1024;
export type PageSize = typeof PAGE_4K | typeof PAGE_2M | typeof PAGE_1G;

/** 4 KiB frames per huge page: the radix fan-out is 512, so each level multiplies by it. */
export const FRAMES_2M = 512;
export const FRAMES_1G = 512 * 512;
export const ORDER_4K = 0;
export const ORDER_2M = 9;
export const ORDER_1G = 18;
export type Order = typeof ORDER_4K | typeof ORDER_2M | typeof ORDER_1G;

/** Address spaces per VM: a PCID is 12 bits (SDM Vol. 3A §4.10.1), and the model tags them so. */
export const MAX_ASID = 4095;

/** Every table, guest or EPT, is one 4 KiB page of 512 eight-byte entries. */
export const ENTRIES = 512;

/**
 * Number of 4 KiB pages spanned by one entry at each level (index = level, 1..5).
 * Index extraction divides by these instead of shifting because page numbers
 * exceed 32 bits and JS shifts truncate to 32.
 */
export const SPAN = [0, 1, 512, 512 ** 2, 512 ** 3, 512 ** 4] as const;

/** Bytes mapped by a leaf at level 1, 2 and 3. */
export function leafBytes(level: number): PageSize {
  return level === 1 ? PAGE_4K : level === 2 ? PAGE_2M : PAGE_1G;
}

/** Buddy order of the block a leaf at level 1, 2 or 3 maps. */
export function leafOrder(level: number): Order {
  return level === 1 ? ORDER_4K : level === 2 ? ORDER_2M : ORDER_1G;
}

/** The level whose leaves map pages of `size`. */
export function leafLevel(size: PageSize): number {
  return size === PAGE_4K ? 1 : size === PAGE_2M ? 2 : 3;
}

// Guest (IA-32e) paging-structure entry bits.
export const PTE_P = 0x1;
export const PTE_RW = 0x2;
export const PTE_US = 0x4;
export const PTE_A = 0x20;
export const PTE_D = 0x40;
export const PTE_PS = 0x80;
/** Global: MOV to CR3 keeps the translation, and it serves every PCID (SDM Vol. 3A §4.10.2.4). */
export const PTE_G = 0x100;

// EPT entry bits: read/write/execute, large page, accessed/dirty.
export const EPT_R = 0x1;
export const EPT_W = 0x2;
export const EPT_X = 0x4;
export const EPT_RWX = 0x7;
export const EPT_PS = 0x80;

/**
 * Entries are stored as frameNumber * 4096 + flags in a Float64Array: exact up to
 * 2^53, enough for the 52-bit physical addresses x86 defines, and the low 12 bits
 * stay reachable with `& 0xfff` because ToInt32 keeps the low 32 bits exactly.
 */
export function entryFrame(entry: number): number {
  return Math.floor(entry / PAGE_4K);
}

/** Results of the hot paths: a non-negative number is an HPA, a negative one a fault. */
export const FAULT_GUEST_PF = -1;
export const FAULT_EPT_VIOLATION = -2;
export const FAULT_EPT_MISCONFIG = -3;
export const FAULT_SHADOW_MISS = -4;
export type FaultCode =
  | typeof FAULT_GUEST_PF
  | typeof FAULT_EPT_VIOLATION
  | typeof FAULT_EPT_MISCONFIG
  | typeof FAULT_SHADOW_MISS;

/** What each fault is called where it is reported, in the vocabulary of exits (exits.ts). */
export const FAULT_NAMES: Record<FaultCode, MemoryExitReason> = {
  [FAULT_GUEST_PF]: "guest_page_fault",
  [FAULT_EPT_VIOLATION]: "ept_violation",
  [FAULT_EPT_MISCONFIG]: "ept_misconfig",
  [FAULT_SHADOW_MISS]: "shadow_page_fault",
};
