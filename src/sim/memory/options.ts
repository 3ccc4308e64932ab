// How one VM's memory is virtualized: paging depth, EPT, shadow tables or Xen PV direct paging, leaf
// sizes, TLB tags and page-walk caches, with their defaults and the checks every caller's choice passes.

import { PAGE_1G, PAGE_2M, PAGE_4K, type PageSize } from "./constants";
import { DEFAULT_TLB, type TlbConfig } from "./tlb";

export type PagingMode = "ept" | "shadow" | "direct";

export interface VmMemoryOptions {
  /** vCPUs (default 2). */
  vcpus?: number;
  /**
   * The host hardware thread each vCPU runs on (vCPU i on threads[i]). vCPUs scheduled on one thread,
   * of this VM or another, share its TLBs. Empty (the default): each vCPU has TLBs of its own.
   */
  threads?: number[];
  /** Guest paging: 4 levels (48-bit) or 5 levels (57-bit, LA57). Default 4. */
  guestLevels?: 4 | 5;
  /** EPT levels (4, or 5 for a 57-bit guest-physical space). Default 4. */
  eptLevels?: 4 | 5;
  /**
   * "ept" (hardware two-dimensional walk), "shadow" (pre-EPT software shadow tables, for HVM guests
   * without EPT) or "direct" (a Xen PV guest: its own tables are the hardware's, updated by hypercall).
   */
  mode?: PagingMode;
  /** Largest leaf the guest OS maps (transparent huge pages in the guest). Default 4 KiB. */
  guestPageSize?: PageSize;
  /** Largest leaf the hypervisor installs in the EPT when backing is contiguous. Default 2 MiB. */
  eptPageSize?: PageSize;
  /** Geometry of the TLBs of vCPUs that have no host thread; a host thread's TLBs are the host's. */
  tlb?: TlbConfig;
  /**
   * VPID ("enable VPID"): tag TLB entries with the VM's VPID, so they survive VM exits, entries and
   * other VMs on the thread. Without it every VM entry and exit flushes VPID 0's entries
   * (SDM Vol. 3C §28.3.3.1). Default true; false, and only false, under direct paging.
   */
  vpid?: boolean;
  /**
   * PCID (CR4.PCIDE): tag TLB entries with the address space, so MOV to CR3 keeps them. Without it
   * MOV to CR3 drops every entry of the VPID but the global ones (SDM Vol. 3A §4.10.4.1). Default true;
   * false, and only false, under direct paging.
   */
  pcid?: boolean;
  /** @deprecated vpid and pcid together, as one option used to mean; kept because stored instances carry it. */
  tagged?: boolean;
  /** Entries in the page-walk caches (0 = off): guest paging-structure caches and the nested TLB. */
  pageWalkCache?: { guest: number; nested: number };
  /** Bytes of device (MMIO) space above RAM; touching it exits as an EPT misconfiguration. */
  mmioBytes?: number;
}

export type ResolvedVmOptions = Required<Omit<VmMemoryOptions, "tagged">>;

/** Defaults filled in and every choice checked. Options stored before vpid and pcid existed carry `tagged`. */
export function resolveOptions(o: VmMemoryOptions = {}): ResolvedVmOptions {
  if (o.tagged !== undefined && (o.vpid ?? o.tagged) !== o.tagged) {
    throw new RangeError("tagged (deprecated: vpid and pcid together) contradicts vpid");
  }
  if (o.tagged !== undefined && (o.pcid ?? o.tagged) !== o.tagged) {
    throw new RangeError("tagged (deprecated: vpid and pcid together) contradicts pcid");
  }
  const r: ResolvedVmOptions = {
    vcpus: o.vcpus ?? 2,
    threads: o.threads ?? [],
    guestLevels: o.guestLevels ?? 4,
    eptLevels: o.eptLevels ?? 4,
    mode: o.mode ?? "ept",
    guestPageSize: o.guestPageSize ?? PAGE_4K,
    eptPageSize: o.eptPageSize ?? PAGE_2M,
    // Geometry stored before the second-level TLB existed lacks it.
    tlb: { ...DEFAULT_TLB, ...o.tlb },
    vpid: o.vpid ?? o.tagged ?? o.mode !== "direct",
    pcid: o.pcid ?? o.tagged ?? o.mode !== "direct",
    pageWalkCache: o.pageWalkCache ?? { guest: 0, nested: 0 },
    mmioBytes: o.mmioBytes ?? 0,
  };
  if (!Number.isInteger(r.vcpus) || r.vcpus < 1 || r.vcpus > 256)
    throw new RangeError("vcpus must be 1..256");
  if (!Array.isArray(r.threads) || (r.threads.length !== 0 && r.threads.length !== r.vcpus))
    throw new RangeError("threads must name one host thread per vCPU, or none");
  for (const t of r.threads)
    if (!Number.isInteger(t) || t < 0 || t > 0xfffff) throw new RangeError("threads must be 0..1048575");
  if (typeof r.vpid !== "boolean" || typeof r.pcid !== "boolean")
    throw new RangeError("vpid and pcid must be true or false");
  if (r.guestLevels !== 4 && r.guestLevels !== 5) throw new RangeError("guestLevels must be 4 or 5");
  if (r.eptLevels !== 4 && r.eptLevels !== 5) throw new RangeError("eptLevels must be 4 or 5");
  if (r.mode !== "ept" && r.mode !== "shadow" && r.mode !== "direct")
    throw new RangeError('mode must be "ept", "shadow" or "direct"');
  // Xen's 64-bit PV interface is 4-level paging only: a PV guest cannot use LA57.
  if (r.mode === "direct" && r.guestLevels !== 4)
    throw new RangeError("guestLevels must be 4 under direct paging (Xen PV has no 5-level paging)");
  // A PV guest is not a VMX guest: it runs in root mode beside Xen (or on a CPU without VMX), so its
  // entries carry VPID 0, as an HVM guest's without VPID do, and go at each transition on its thread.
  if (r.mode === "direct" && r.vpid)
    throw new RangeError("vpid must be false under direct paging (a Xen PV guest is not a VMX guest)");
  // Nor can it tag its address spaces: Xen owns CR4 and loads the guest's CR3 for it (MMUEXT_NEW_BASEPTR),
  // and Linux clears X86_FEATURE_PCID under Xen PV (xen_init_capabilities, arch/x86/xen/enlighten_pv.c).
  // The PCIDs Xen gives a PV vCPU itself tag guest kernel and user mode, not the guest's processes
  // (PCID_PV_PRIV and PCID_PV_USER, xen/include/asm-x86/pv/domain.h).
  if (r.mode === "direct" && r.pcid)
    throw new RangeError("pcid must be false under direct paging (a Xen PV guest cannot use PCIDs)");
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
