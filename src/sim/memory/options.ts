// How one VM's memory is virtualized: paging depth, EPT or shadow tables, leaf sizes, TLB tags and
// page-walk caches, with their defaults and the checks every caller's choice passes.

import { PAGE_1G, PAGE_2M, PAGE_4K, type PageSize } from "./constants";
import { DEFAULT_TLB, type TlbConfig } from "./tlb";

export type PagingMode = "ept" | "shadow";

export interface VmMemoryOptions {
  /** vCPUs, each with its own TLB (default 2). */
  vcpus?: number;
  /** Guest paging: 4 levels (48-bit) or 5 levels (57-bit, LA57). Default 4. */
  guestLevels?: 4 | 5;
  /** EPT levels (4, or 5 for a 57-bit guest-physical space). Default 4. */
  eptLevels?: 4 | 5;
  /** "ept" (hardware two-dimensional walk) or "shadow" (pre-EPT software shadow tables). */
  mode?: PagingMode;
  /** Largest leaf the guest OS maps (transparent huge pages in the guest). Default 4 KiB. */
  guestPageSize?: PageSize;
  /** Largest leaf the hypervisor installs in the EPT when backing is contiguous. Default 2 MiB. */
  eptPageSize?: PageSize;
  tlb?: TlbConfig;
  /** Tag TLB entries with VPID and PCID; without tags, CR3 writes and VM exits flush. Default true. */
  tagged?: boolean;
  /** Entries in the page-walk caches (0 = off): guest paging-structure caches and the nested TLB. */
  pageWalkCache?: { guest: number; nested: number };
  /** Bytes of device (MMIO) space above RAM; touching it exits as an EPT misconfiguration. */
  mmioBytes?: number;
}

export type ResolvedVmOptions = Required<VmMemoryOptions>;

export function resolveOptions(o: VmMemoryOptions = {}): ResolvedVmOptions {
  const r: ResolvedVmOptions = {
    vcpus: o.vcpus ?? 2,
    guestLevels: o.guestLevels ?? 4,
    eptLevels: o.eptLevels ?? 4,
    mode: o.mode ?? "ept",
    guestPageSize: o.guestPageSize ?? PAGE_4K,
    eptPageSize: o.eptPageSize ?? PAGE_2M,
    tlb: o.tlb ?? DEFAULT_TLB,
    tagged: o.tagged ?? true,
    pageWalkCache: o.pageWalkCache ?? { guest: 0, nested: 0 },
    mmioBytes: o.mmioBytes ?? 0,
  };
  if (!Number.isInteger(r.vcpus) || r.vcpus < 1 || r.vcpus > 256)
    throw new RangeError("vcpus must be 1..256");
  if (r.guestLevels !== 4 && r.guestLevels !== 5) throw new RangeError("guestLevels must be 4 or 5");
  if (r.eptLevels !== 4 && r.eptLevels !== 5) throw new RangeError("eptLevels must be 4 or 5");
  if (r.mode !== "ept" && r.mode !== "shadow") throw new RangeError('mode must be "ept" or "shadow"');
  for (const [k, v] of [
    ["guestPageSize", r.guestPageSize],
    ["eptPageSize", r.eptPageSize],
  ] as const) {
    if (v !== PAGE_4K && v !== PAGE_2M && v !== PAGE_1G)
      throw new RangeError(`${k} must be 4 KiB, 2 MiB or 1 GiB`);
  }
  for (const n of [r.pageWalkCache.guest, r.pageWalkCache.nested]) {
    if (!Number.isInteger(n) || n < 0 || (n & (n - 1)) !== 0)
      throw new RangeError("page-walk cache sizes must be 0 or a power of two");
  }
  if (!Number.isInteger(r.mmioBytes) || r.mmioBytes < 0 || r.mmioBytes % PAGE_4K !== 0) {
    throw new RangeError("mmioBytes must be a non-negative multiple of 4 KiB");
  }
  return r;
}

/**
 * The leaf sizes of the seed's large-pages switch, for both tables: 2 MiB pages in the guest (transparent
 * huge pages) and 2 MiB backing in the EPT; without it, 4 KiB pages in both.
 */
export function largePageSizes(largePages: boolean): { guestPageSize: PageSize; eptPageSize: PageSize } {
  const size = largePages ? PAGE_2M : PAGE_4K;
  return { guestPageSize: size, eptPageSize: size };
}
