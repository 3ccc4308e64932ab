// One VM's memory: the guest OS's page tables, the hypervisor's EPT (or shadow tables),
// per-vCPU TLBs and the two-dimensional walk of Bhargava et al. (ASPLOS 2008).

import type { MemoryExitReason } from "../exits";
import {
  ENTRIES,
  EPT_PS,
  EPT_RWX,
  EPT_W,
  entryFrame,
  FAULT_EPT_MISCONFIG,
  FAULT_EPT_VIOLATION,
  FAULT_GUEST_PF,
  FAULT_SHADOW_MISS,
  leafBytes,
  ORDER_1G,
  ORDER_2M,
  ORDER_4K,
  type Order,
  PAGE_1G,
  PAGE_2M,
  PAGE_4K,
  type PageSize,
  PTE_A,
  PTE_D,
  PTE_P,
  PTE_PS,
  PTE_RW,
  PTE_US,
  SPAN,
} from "./constants";
import { C, EXIT_COUNTER, NCOUNTERS } from "./counters";
import { FrameAllocator } from "./frames";
import { type ResolvedVmOptions, resolveOptions, type VmMemoryOptions } from "./options";
import { TablePool } from "./tables";
import { Tlb } from "./tlb";

export const MAX_ASID = 4095;
// Hot-path copies of the radix geometry, as reciprocals: multiplying by a power of two is
// exact, and a division by a variable costs several times more on the walk's critical path.
const INV_SPAN = Float64Array.from(SPAN, (s) => (s === 0 ? 0 : 1 / s));
const SPAN_BYTES = Float64Array.from(SPAN, (s) => s * PAGE_4K);
const INV_SPAN_BYTES = Float64Array.from(SPAN, (s) => (s === 0 ? 0 : 1 / (s * PAGE_4K)));
/** Guest allocator owners: data pages vs page-table pages (the guest OS knows which is which). */
const GUEST_DATA = 1;
const GUEST_PT = 2;

export class HostMemoryExhausted extends Error {
  override name = "HostMemoryExhausted";
}

export interface TouchResult {
  hpa: number | null;
  gpa: number | null;
  /** Size of the translation cached in the TLB: the smaller of the guest and EPT leaves. */
  pageSize: PageSize | null;
  mmio: boolean;
  guestPageFaults: number;
  eptViolations: number;
  vmExits: number;
}

export interface GuestLeaf {
  gpa: number;
  size: PageSize;
  writable: boolean;
  dirty: boolean;
}

export interface EptLeaf {
  hpa: number;
  size: PageSize;
  misconfigured: boolean;
}

/**
 * The memory of one VM. Fields are public so the step-by-step tracer (trace.ts) can
 * follow the same structures; nothing outside sim/memory should write them.
 */
export class VmMemory {
  readonly opts: ResolvedVmOptions;
  readonly memoryBytes: number;
  readonly owner: number;
  readonly vpid: number;
  readonly host: FrameAllocator;
  readonly guestLevels: number;
  readonly eptLevels: number;
  readonly shadow: boolean;
  readonly tagged: boolean;
  counters = new Float64Array(NCOUNTERS);
  guestAlloc: FrameAllocator;
  gDir = new TablePool(true);
  gLeaf = new TablePool(false);
  eDir = new TablePool(true);
  eLeaf = new TablePool(false);
  sDir: TablePool | null = null;
  sLeaf: TablePool | null = null;
  eptRoot = -1;
  /** Guest root table per address space (its frame is CR3), -1 when the process does not exist. */
  gRoot = new Int32Array(MAX_ASID + 1).fill(-1);
  sRoot: Int32Array | null = null;
  tlbs: Tlb[] = [];
  curAsid: Int32Array;
  // Page-walk caches, per vCPU, direct-mapped. pwc: [tag, ctx, gfn, slot] per (vcpu, level, set).
  pwcSets: number;
  pwc: Float64Array | null = null;
  ntlbSets: number;
  ntlb: Float64Array | null = null;
  /** Scratch outputs of the hot walks, so they return plain numbers. */
  lastRefs = 0;
  lastEptSize: PageSize = PAGE_4K;
  lastFaultGpa = -1;
  lastGpa = -1;
  lastSize: PageSize = PAGE_4K;
  private vcpuNow = 0;

  constructor(
    host: FrameAllocator,
    owner: number,
    memoryBytes: number,
    options: VmMemoryOptions = {},
    empty = false,
  ) {
    if (!Number.isInteger(memoryBytes) || memoryBytes < PAGE_2M || memoryBytes % PAGE_2M !== 0) {
      throw new RangeError("memoryBytes must be a positive multiple of 2 MiB");
    }
    this.opts = resolveOptions(options);
    this.memoryBytes = memoryBytes;
    this.owner = owner;
    this.vpid = owner;
    this.host = host;
    this.guestLevels = this.opts.guestLevels;
    this.eptLevels = this.opts.eptLevels;
    this.shadow = this.opts.mode === "shadow";
    this.tagged = this.opts.tagged;
    this.guestAlloc = new FrameAllocator(memoryBytes / PAGE_4K);
    this.curAsid = new Int32Array(this.opts.vcpus).fill(-1);
    for (let v = 0; v < this.opts.vcpus; v++) this.tlbs.push(new Tlb(this.opts.tlb));
    this.pwcSets = this.opts.pageWalkCache.guest;
    this.ntlbSets = this.opts.pageWalkCache.nested;
    if (this.pwcSets > 0) this.pwc = new Float64Array(this.opts.vcpus * 6 * this.pwcSets * 4).fill(-1);
    if (this.ntlbSets > 0) this.ntlb = new Float64Array(this.opts.vcpus * this.ntlbSets * 3).fill(-1);
    if (this.shadow) {
      this.sDir = new TablePool(true);
      this.sLeaf = new TablePool(false);
      this.sRoot = new Int32Array(MAX_ASID + 1).fill(-1);
    }
    if (!empty) this.eptRoot = this.eDir.alloc(this.hostFrame(ORDER_4K, true));
  }

  // ---------------------------------------------------------------- hot paths

  /**
   * One guest access as the hardware performs it: TLB, then the walk. Returns the HPA
   * or a negative fault code (constants.ts) without handling the fault. `gva` must be a
   * canonical non-negative safe integer (the facade validates).
   */
  access(vcpu: number, asid: number, gva: number, write: boolean): number {
    if (this.curAsid[vcpu] !== asid) this.switchCr3(vcpu, asid);
    const ctx = this.tagged ? this.vpid * 4096 + asid : 0;
    const hpa = this.tlbs[vcpu].lookup(gva, ctx, write);
    if (hpa >= 0) return hpa;
    return this.shadow
      ? this.walkShadow(vcpu, asid, gva, write, ctx)
      : this.walk2d(vcpu, asid, gva, write, ctx);
  }

  /** MOV CR3: exits under shadow paging; without tags it also empties the TLB. */
  switchCr3(vcpu: number, asid: number): void {
    this.counters[C.cr3Switches]++;
    this.curAsid[vcpu] = asid;
    if (this.gRoot[asid] < 0) this.createSpace(asid);
    if (this.shadow) this.vmExit("cr_access", vcpu);
    if (!this.tagged) {
      this.tlbs[vcpu].flushAll();
      this.flushPwc(vcpu);
    }
  }

  /**
   * GPA → HPA through the EPT radix. Sets lastRefs and lastEptSize; returns the HPA or
   * FAULT_EPT_VIOLATION / FAULT_EPT_MISCONFIG (lastFaultGpa says where).
   */
  eptWalk(gpa: number): number {
    const gfn = Math.floor(gpa * 0.000244140625);
    // Split the frame number into 27-bit halves so each level's index is an int32 shift.
    const lo = gfn & 0x7ffffff;
    const hi = Math.floor(gfn * 7.450580596923828e-9);
    const dirE = this.eDir.entries;
    const dirC = this.eDir.child as Int32Array;
    const leafE = this.eLeaf.entries;
    let level = this.eptLevels;
    let slot = this.eptRoot;
    let refs = 0;
    for (;;) {
      const idx = level > 3 ? (hi >>> (9 * level - 36)) & 511 : (lo >>> (9 * level - 9)) & 511;
      const i = slot * 512 + idx;
      const e = level === 1 ? leafE[i] : dirE[i];
      refs++;
      const perm = e & 7;
      if (perm === 0 || perm === EPT_W) return this.eptFault(gpa, refs, perm);
      if (level === 1 || (e & EPT_PS) !== 0) {
        const size = SPAN_BYTES[level];
        this.lastRefs = refs;
        this.lastEptSize = size as PageSize;
        return e - (e & 4095) + (gpa - Math.floor(gpa * INV_SPAN_BYTES[level]) * size);
      }
      slot = dirC[i];
      level--;
    }
  }

  /** Not present is a violation; write-without-read is reserved (SDM §29.3.3.1): a misconfiguration. */
  private eptFault(gpa: number, refs: number, perm: number): number {
    this.lastRefs = refs;
    this.lastFaultGpa = gpa;
    return perm === 0 ? FAULT_EPT_VIOLATION : FAULT_EPT_MISCONFIG;
  }

  /** The nested translation of a guest page-table page, through the nested TLB when enabled. */
  private nestedTable(vcpu: number, gfn: number, ctx: number): number {
    const nt = this.ntlb;
    if (nt !== null) {
      const k = (vcpu * this.ntlbSets + (gfn & (this.ntlbSets - 1))) * 3;
      if (nt[k] === gfn && nt[k + 1] === ctx) {
        this.counters[C.ntlbHits]++;
        this.lastRefs = 0;
        return nt[k + 2];
      }
      const hpa = this.eptWalk(gfn * PAGE_4K);
      if (hpa >= 0) {
        nt[k] = gfn;
        nt[k + 1] = ctx;
        nt[k + 2] = hpa;
      }
      return hpa;
    }
    return this.eptWalk(gfn * PAGE_4K);
  }

  /**
   * The two-dimensional walk. Each guest table is found by a GPA that needs its own EPT
   * walk before the guest entry can be read; the final GPA needs one more. The count of
   * memory references is whatever this loop performs, (n+1)(m+1)-1 with no caches.
   */
  walk2d(vcpu: number, asid: number, gva: number, write: boolean, ctx: number): number {
    const c = this.counters;
    c[C.walks]++;
    const vpn = Math.floor(gva * 0.000244140625);
    const dirE = this.gDir.entries;
    const dirC = this.gDir.child as Int32Array;
    const leafE = this.gLeaf.entries;
    let level = this.guestLevels;
    let slot = this.gRoot[asid];
    let tableGfn = this.gDir.frame[slot];
    const pwc = this.pwc;
    if (pwc !== null) {
      // Paging-structure caches: the deepest cached directory entry lets the walk skip levels.
      for (let l = 2; l <= this.guestLevels; l++) {
        const prefix = Math.floor(vpn * INV_SPAN[l]);
        const k = ((vcpu * 6 + l) * this.pwcSets + (prefix & (this.pwcSets - 1))) * 4;
        if (pwc[k] === prefix && pwc[k + 1] === ctx) {
          c[C.pwcHits]++;
          level = l - 1;
          tableGfn = pwc[k + 2];
          slot = pwc[k + 3];
          break;
        }
      }
    }
    let refs = 0;
    let writable = true;
    let gpa = 0;
    let size: number = PAGE_4K;
    let final = false;
    let hpa: number;
    for (;;) {
      // One call site serves the table walks and the final one, so the inlined body stays small.
      const nested =
        final || this.ntlb === null
          ? this.eptWalk(final ? gpa : tableGfn * 4096)
          : this.nestedTable(vcpu, tableGfn, ctx);
      refs += this.lastRefs;
      if (nested < 0 || final) {
        hpa = nested;
        break;
      }
      refs++;
      const idx = Math.floor(vpn * INV_SPAN[level]) & 511;
      const arr = level === 1 ? leafE : dirE;
      const i = slot * ENTRIES + idx;
      let e = arr[i];
      if ((e & PTE_P) === 0 || (write && (e & PTE_RW) === 0)) {
        c[C.walkRefs] += refs;
        this.lastRefs = refs;
        return FAULT_GUEST_PF;
      }
      if ((e & PTE_RW) === 0) writable = false;
      if ((e & PTE_A) === 0) {
        e += PTE_A;
        arr[i] = e;
      }
      if (level === 1 || (e & PTE_PS) !== 0) {
        if (write && (e & PTE_D) === 0) {
          e += PTE_D;
          arr[i] = e;
        }
        size = SPAN_BYTES[level];
        gpa = e - (e & 4095) + (gva - Math.floor(gva * INV_SPAN_BYTES[level]) * size);
        final = true;
        continue;
      }
      if (pwc !== null) {
        const prefix = Math.floor(vpn * INV_SPAN[level]);
        const k = ((vcpu * 6 + level) * this.pwcSets + (prefix & (this.pwcSets - 1))) * 4;
        pwc[k] = prefix;
        pwc[k + 1] = ctx;
        pwc[k + 2] = entryFrame(e);
        pwc[k + 3] = dirC[i];
      }
      tableGfn = Math.floor(e * 0.000244140625);
      slot = dirC[i];
      level--;
    }
    c[C.walkRefs] += refs;
    this.lastRefs = refs;
    this.lastGpa = final ? gpa : -1;
    if (hpa < 0) return hpa;
    if (this.lastEptSize < size) size = this.lastEptSize;
    this.lastSize = size as PageSize;
    const off = gva - Math.floor(gva * (1 / size)) * size;
    this.tlbs[vcpu].insert(gva, ctx, size as PageSize, hpa - off, writable, write);
    return hpa;
  }

  /** The hardware walk of a shadow table: GVA → HPA directly, n references. */
  walkShadow(vcpu: number, asid: number, gva: number, write: boolean, ctx: number): number {
    const c = this.counters;
    c[C.walks]++;
    const sDir = this.sDir as TablePool;
    const dirE = sDir.entries;
    const dirC = sDir.child as Int32Array;
    const leafE = (this.sLeaf as TablePool).entries;
    const vpn = Math.floor(gva * 0.000244140625);
    let level = this.guestLevels;
    let slot = (this.sRoot as Int32Array)[asid];
    let refs = 0;
    for (;;) {
      const i = slot * 512 + (Math.floor(vpn * INV_SPAN[level]) & 511);
      const e = level === 1 ? leafE[i] : dirE[i];
      refs++;
      if ((e & PTE_P) === 0 || (write && (e & PTE_RW) === 0)) {
        c[C.walkRefs] += refs;
        this.lastRefs = refs;
        return FAULT_SHADOW_MISS;
      }
      if (level === 1 || (e & PTE_PS) !== 0) {
        const size = SPAN_BYTES[level];
        c[C.walkRefs] += refs;
        this.lastRefs = refs;
        this.lastSize = size as PageSize;
        const off = gva - Math.floor(gva * INV_SPAN_BYTES[level]) * size;
        // Shadow leaves are writable only once the guest PTE is dirty, so W implies D here.
        this.tlbs[vcpu].insert(
          gva,
          ctx,
          size as PageSize,
          entryFrame(e) * PAGE_4K,
          (e & PTE_RW) !== 0,
          (e & PTE_RW) !== 0,
        );
        return entryFrame(e) * PAGE_4K + off;
      }
      slot = dirC[i];
      level--;
    }
  }

  // ---------------------------------------------------------------- fault handling

  /**
   * A guest access with every fault handled the way the guest kernel and the hypervisor
   * would, then retried: guest #PF → the guest maps a page; EPT violation → the
   * hypervisor backs it; shadow miss → the hypervisor syncs its shadow table.
   */
  touch(vcpu: number, asid: number, gva: number, write: boolean): TouchResult {
    this.vcpuNow = vcpu;
    const before = this.counters.slice(C.guestPageFaults, C.exits + 1);
    const out = (hpa: number | null, mmio: boolean): TouchResult => ({
      hpa,
      gpa: hpa === null && !mmio ? null : this.lastGpa,
      pageSize: hpa === null ? null : this.lastSize,
      mmio,
      guestPageFaults: this.counters[C.guestPageFaults] - before[0],
      eptViolations: this.counters[C.eptViolations] - before[1],
      vmExits: this.counters[C.exits] - before[3],
    });
    for (let attempt = 0; attempt < 16; attempt++) {
      const r = this.access(vcpu, asid, gva, write);
      if (r >= 0) {
        // The hardware result is r; gpa and size come from software walks, for the caller.
        const g = this.guestLeaf(asid, gva) as GuestLeaf;
        const h = this.eptLeaf(g.gpa) as EptLeaf;
        this.lastGpa = g.gpa;
        this.lastSize = Math.min(g.size, h.size) as PageSize;
        return out(r, false);
      }
      if (r === FAULT_GUEST_PF) {
        this.deliverGuestFault(vcpu);
        this.guestMap(asid, gva);
      } else if (r === FAULT_EPT_VIOLATION) {
        this.vmExit("ept_violation", vcpu);
        const gpa = this.lastFaultGpa;
        this.back(gpa);
        // A first MMIO access: the entry is now misconfigured and the access is emulated (KVM).
        if (gpa >= this.memoryBytes) return out(null, true);
      } else if (r === FAULT_EPT_MISCONFIG) {
        // The hypervisor emulates the device access and resumes; there is no RAM behind it.
        this.vmExit("ept_misconfig", vcpu);
        return out(null, true);
      } else {
        this.vmExit("shadow_page_fault", vcpu);
        if (!this.syncShadow(asid, gva, write)) {
          this.deliverGuestFault(vcpu);
          this.guestMap(asid, gva);
        }
      }
    }
    throw new Error(`touch of ${gva} in asid ${asid} did not converge`);
  }

  /** A guest kernel access to a guest-physical address (its direct map). */
  touchPhysical(gpa: number, vcpu = 0): { hpa: number | null; mmio: boolean } {
    if (!Number.isSafeInteger(gpa) || gpa < 0 || gpa >= this.memoryBytes + this.opts.mmioBytes) {
      throw new RangeError(`gpa ${gpa} is outside RAM and the MMIO window`);
    }
    for (let attempt = 0; attempt < 4; attempt++) {
      const r = this.eptWalk(gpa);
      if (r >= 0) return { hpa: r, mmio: false };
      if (r === FAULT_EPT_MISCONFIG) {
        this.vmExit("ept_misconfig", vcpu);
        return { hpa: null, mmio: true };
      }
      this.vmExit(this.shadow ? "shadow_page_fault" : "ept_violation", vcpu);
      this.back(gpa);
      if (gpa >= this.memoryBytes) return { hpa: null, mmio: true };
    }
    throw new Error(`gpa ${gpa} could not be backed`);
  }

  vmExit(reason: MemoryExitReason, vcpu: number): void {
    this.counters[C.exits]++;
    this.counters[EXIT_COUNTER[reason]]++;
    // Without VPID, every VM entry and exit flushes the TLB (SDM §28.1).
    if (!this.tagged) {
      this.tlbs[vcpu].flushAll();
      this.flushPwc(vcpu);
    }
  }

  private deliverGuestFault(vcpu: number): void {
    this.counters[C.guestPageFaults]++;
    // Under shadow paging the hypervisor intercepts #PF and reflects the real ones.
    if (this.shadow) this.vmExit("guest_page_fault", vcpu);
  }

  // ---------------------------------------------------------------- the guest OS

  private createSpace(asid: number): void {
    const gfn = this.guestFrame(ORDER_4K, GUEST_PT);
    this.guestZero(gfn * PAGE_4K, PAGE_4K);
    this.gRoot[asid] = this.gDir.alloc(gfn);
    if (this.sRoot !== null)
      this.sRoot[asid] = (this.sDir as TablePool).alloc(this.hostFrame(ORDER_4K, true));
  }

  private guestFrame(order: Order, kind: number): number {
    const f = this.guestAlloc.alloc(order, kind);
    if (f < 0 && order === ORDER_4K) throw new RangeError("guest out of memory");
    return f;
  }

  /** The guest zeroes a fresh page, touching its GPAs: this is where demand paging bites. */
  private guestZero(gpa: number, bytes: number): void {
    const end = gpa + bytes;
    let g = gpa;
    while (g < end) {
      let r = this.eptWalk(g);
      if (r < 0) {
        this.vmExit(this.shadow ? "shadow_page_fault" : "ept_violation", this.vcpuNow);
        this.back(g);
        r = this.eptWalk(g);
      }
      g = (Math.floor(g / this.lastEptSize) + 1) * this.lastEptSize;
    }
  }

  /** The guest kernel's page-fault handler: maps gva with the largest leaf that fits. */
  private guestMap(asid: number, gva: number): void {
    const vpn = Math.floor(gva / PAGE_4K);
    const maxLevel = this.opts.guestPageSize === PAGE_1G ? 3 : this.opts.guestPageSize === PAGE_2M ? 2 : 1;
    for (let level = maxLevel; level >= 1; level--) {
      if (!this.guestRegionFree(asid, vpn, level)) continue;
      const order = (level === 3 ? ORDER_1G : level === 2 ? ORDER_2M : ORDER_4K) as Order;
      const gfn = this.guestFrame(order, GUEST_DATA);
      if (gfn < 0) continue;
      this.guestZero(gfn * PAGE_4K, leafBytes(level));
      const { slot, pool } = this.guestTableFor(asid, vpn, level);
      const i = slot * ENTRIES + (Math.floor(vpn / SPAN[level]) & 511);
      this.writeGuestPte(pool, i, gfn * PAGE_4K + PTE_P + PTE_RW + PTE_US + (level > 1 ? PTE_PS : 0), -1);
      this.counters[level === 1 ? C.guest4k : level === 2 ? C.guest2m : C.guest1g]++;
      return;
    }
    throw new RangeError(`guest could not map ${gva}`);
  }

  /** True when no mapping exists anywhere in gva's aligned region at `level`. */
  private guestRegionFree(asid: number, vpn: number, level: number): boolean {
    let slot = this.gRoot[asid];
    for (let l = this.guestLevels; l > level; l--) {
      const i = slot * ENTRIES + (Math.floor(vpn / SPAN[l]) & 511);
      const e = this.gDir.entries[i];
      if ((e & PTE_P) === 0) return true;
      if ((e & PTE_PS) !== 0) return false;
      slot = (this.gDir.child as Int32Array)[i];
    }
    return (
      (level === 1 ? this.gLeaf : this.gDir).entries[
        slot * ENTRIES + (Math.floor(vpn / SPAN[level]) & 511)
      ] === 0
    );
  }

  /** Walks to the table at `level`, creating missing tables the way a guest kernel does. */
  private guestTableFor(asid: number, vpn: number, level: number): { slot: number; pool: TablePool } {
    let slot = this.gRoot[asid];
    for (let l = this.guestLevels; l > level; l--) {
      const i = slot * ENTRIES + (Math.floor(vpn / SPAN[l]) & 511);
      const e = this.gDir.entries[i];
      if ((e & PTE_P) !== 0) {
        slot = (this.gDir.child as Int32Array)[i];
        continue;
      }
      const gfn = this.guestFrame(ORDER_4K, GUEST_PT);
      this.guestZero(gfn * PAGE_4K, PAGE_4K);
      const next = (l - 1 === 1 ? this.gLeaf : this.gDir).alloc(gfn);
      this.writeGuestPte(this.gDir, i, gfn * PAGE_4K + PTE_P + PTE_RW + PTE_US, next);
      slot = next;
    }
    return { slot, pool: level === 1 ? this.gLeaf : this.gDir };
  }

  /** A guest store into one of its page tables; under shadow paging those pages are write-protected. */
  private writeGuestPte(pool: TablePool, i: number, value: number, child: number): void {
    if (this.shadow) this.vmExit("page_table_write", this.vcpuNow);
    pool.entries[i] = value;
    if (pool.child !== null) pool.child[i] = child;
  }

  /** The guest's software walk (no hardware references counted): used by handlers and tests. */
  guestLeaf(asid: number, gva: number): GuestLeaf | null {
    if (asid < 0 || asid > MAX_ASID || this.gRoot[asid] < 0) return null;
    const vpn = Math.floor(gva / PAGE_4K);
    let slot = this.gRoot[asid];
    for (let l = this.guestLevels; l >= 1; l--) {
      const i = slot * ENTRIES + (Math.floor(vpn / SPAN[l]) & 511);
      const e = (l === 1 ? this.gLeaf : this.gDir).entries[i];
      if ((e & PTE_P) === 0) return null;
      if (l === 1 || (e & PTE_PS) !== 0) {
        const size = leafBytes(l);
        return {
          gpa: entryFrame(e) * PAGE_4K + (gva % size),
          size,
          writable: (e & PTE_RW) !== 0,
          dirty: (e & PTE_D) !== 0,
        };
      }
      slot = (this.gDir.child as Int32Array)[i];
    }
    return null;
  }

  /** munmap of gva's page: clear the PTE, free the guest frame, shoot down every vCPU's TLB. */
  unmap(asid: number, gva: number): boolean {
    if (this.gRoot[asid] < 0) return false;
    const vpn = Math.floor(gva / PAGE_4K);
    let slot = this.gRoot[asid];
    for (let l = this.guestLevels; l >= 1; l--) {
      const pool = l === 1 ? this.gLeaf : this.gDir;
      const i = slot * ENTRIES + (Math.floor(vpn / SPAN[l]) & 511);
      const e = pool.entries[i];
      if ((e & PTE_P) === 0) return false;
      if (l === 1 || (e & PTE_PS) !== 0) {
        this.writeGuestPte(pool, i, 0, -1);
        const order = (l === 3 ? ORDER_1G : l === 2 ? ORDER_2M : ORDER_4K) as Order;
        this.guestAlloc.free(entryFrame(e), order, GUEST_DATA);
        this.counters[l === 1 ? C.guest4k : l === 2 ? C.guest2m : C.guest1g]--;
        if (this.shadow) this.zapShadow(asid, gva, leafBytes(l));
        for (let v = 0; v < this.tlbs.length; v++) {
          if (this.shadow) this.vmExit("invlpg", v);
          const ctx = this.tagged ? this.vpid * 4096 + asid : 0;
          // A large guest page may sit in the TLB as many smaller entries: drop the context.
          if (l === 1) this.tlbs[v].invalidatePage(gva, ctx);
          else this.tlbs[v].flushContext(ctx);
          this.flushPwc(v);
        }
        return true;
      }
      slot = (this.gDir.child as Int32Array)[i];
    }
    return false;
  }

  // ---------------------------------------------------------------- the hypervisor

  private hostFrame(order: Order, required: boolean): number {
    const f = this.host.alloc(order, this.owner);
    if (f < 0 && required) throw new HostMemoryExhausted("host has no free frame for a page table");
    return f;
  }

  /** EPT leaf covering gpa, found by the hypervisor's software walk (no references counted). */
  eptLeaf(gpa: number): EptLeaf | null {
    const gfn = Math.floor(gpa / PAGE_4K);
    let slot = this.eptRoot;
    for (let l = this.eptLevels; l >= 1; l--) {
      const i = slot * ENTRIES + (Math.floor(gfn / SPAN[l]) & 511);
      const e = (l === 1 ? this.eLeaf : this.eDir).entries[i];
      if ((e & EPT_RWX) === 0) return null;
      if ((e & 3) === EPT_W) return { hpa: -1, size: PAGE_4K, misconfigured: true };
      if (l === 1 || (e & EPT_PS) !== 0) {
        const size = leafBytes(l);
        return { hpa: entryFrame(e) * PAGE_4K + (gpa % size), size, misconfigured: false };
      }
      slot = (this.eDir.child as Int32Array)[i];
    }
    return null;
  }

  /** Demand paging: back the GPA with the largest EPT leaf whose aligned region is empty. */
  back(gpa: number): void {
    const gfn = Math.floor(gpa / PAGE_4K);
    if (gpa >= this.memoryBytes) {
      if (gpa >= this.memoryBytes + this.opts.mmioBytes) throw new RangeError(`gpa ${gpa} is not RAM`);
      // KVM's MMIO trick: a reserved (write-only) entry makes later accesses misconfigurations.
      const { slot, pool } = this.eptTableFor(gfn, 1);
      pool.entries[slot * ENTRIES + (gfn & 511)] = EPT_W;
      return;
    }
    const maxLevel = this.opts.eptPageSize === PAGE_1G ? 3 : this.opts.eptPageSize === PAGE_2M ? 2 : 1;
    for (let level = maxLevel; level >= 1; level--) {
      const span = SPAN[level];
      const base = Math.floor(gfn / span) * span;
      if ((base + span) * PAGE_4K > this.memoryBytes || !this.eptRegionFree(gfn, level)) continue;
      const order = (level === 3 ? ORDER_1G : level === 2 ? ORDER_2M : ORDER_4K) as Order;
      const hfn = this.hostFrame(order, false);
      if (hfn < 0) continue;
      const { slot, pool } = this.eptTableFor(gfn, level);
      pool.entries[slot * ENTRIES + (Math.floor(gfn / span) & 511)] =
        hfn * PAGE_4K + EPT_RWX + (level > 1 ? EPT_PS : 0);
      this.counters[C.backed] += span;
      this.counters[level === 1 ? C.ept4k : level === 2 ? C.ept2m : C.ept1g]++;
      return;
    }
    throw new HostMemoryExhausted(`no host frame left to back gpa ${gpa}`);
  }

  private eptRegionFree(gfn: number, level: number): boolean {
    let slot = this.eptRoot;
    for (let l = this.eptLevels; l > level; l--) {
      const i = slot * ENTRIES + (Math.floor(gfn / SPAN[l]) & 511);
      const e = this.eDir.entries[i];
      if ((e & EPT_RWX) === 0) return true;
      if ((e & EPT_PS) !== 0) return false;
      slot = (this.eDir.child as Int32Array)[i];
    }
    return (
      (level === 1 ? this.eLeaf : this.eDir).entries[
        slot * ENTRIES + (Math.floor(gfn / SPAN[level]) & 511)
      ] === 0
    );
  }

  private eptTableFor(gfn: number, level: number): { slot: number; pool: TablePool } {
    let slot = this.eptRoot;
    for (let l = this.eptLevels; l > level; l--) {
      const i = slot * ENTRIES + (Math.floor(gfn / SPAN[l]) & 511);
      if ((this.eDir.entries[i] & EPT_RWX) !== 0) {
        slot = (this.eDir.child as Int32Array)[i];
        continue;
      }
      const hfn = this.hostFrame(ORDER_4K, true);
      const next = (l - 1 === 1 ? this.eLeaf : this.eDir).alloc(hfn);
      this.eDir.entries[i] = hfn * PAGE_4K + EPT_RWX;
      (this.eDir.child as Int32Array)[i] = next;
      slot = next;
    }
    return { slot, pool: level === 1 ? this.eLeaf : this.eDir };
  }

  /**
   * Moves the backing of gpa's EPT leaf to another host block (compaction, NUMA moves):
   * copy, repoint, free the old block, then INVEPT so no vCPU keeps the stale HPA.
   */
  remap(gpa: number): { gpa: number; size: PageSize; oldHpa: number; newHpa: number } | null {
    const gfn = Math.floor(gpa / PAGE_4K);
    let slot = this.eptRoot;
    for (let l = this.eptLevels; l >= 1; l--) {
      const pool = l === 1 ? this.eLeaf : this.eDir;
      const i = slot * ENTRIES + (Math.floor(gfn / SPAN[l]) & 511);
      const e = pool.entries[i];
      if ((e & EPT_RWX) === 0 || (e & 3) === EPT_W) return null;
      if (l === 1 || (e & EPT_PS) !== 0) {
        const order = (l === 3 ? ORDER_1G : l === 2 ? ORDER_2M : ORDER_4K) as Order;
        const fresh = this.hostFrame(order, false);
        if (fresh < 0) return null;
        const old = entryFrame(e);
        pool.entries[i] = fresh * PAGE_4K + (e & 0xfff);
        this.host.free(old, order, this.owner);
        this.invept();
        this.counters[C.remaps]++;
        const size = leafBytes(l);
        return { gpa: Math.floor(gpa / size) * size, size, oldHpa: old * PAGE_4K, newHpa: fresh * PAGE_4K };
      }
      slot = (this.eDir.child as Int32Array)[i];
    }
    return null;
  }

  /** INVEPT single-context: every combined translation derived from this EPT goes. */
  invept(): void {
    this.counters[C.invept]++;
    for (const t of this.tlbs) t.flushVpid(this.tagged ? this.vpid : 0);
    this.ntlb?.fill(-1);
    // Shadow tables cache HPAs too; dropping them all is coarser than KVM's rmap but safe.
    if (this.shadow) this.dropShadowTables();
  }

  /** INVVPID single-context: drops the VM's guest-linear translations on every vCPU. */
  invvpid(): void {
    this.counters[C.invvpid]++;
    for (const t of this.tlbs) t.flushVpid(this.tagged ? this.vpid : 0);
    for (let v = 0; v < this.tlbs.length; v++) this.flushPwc(v);
  }

  flushPwc(vcpu: number): void {
    const pwc = this.pwc;
    if (pwc === null) return;
    const per = 6 * this.pwcSets * 4;
    pwc.fill(-1, vcpu * per, (vcpu + 1) * per);
  }

  // ---------------------------------------------------------------- shadow paging

  /**
   * The hypervisor's shadow-fault handler: reads the guest PTE in software and builds the
   * shadow entry GVA → HPA. Returns false when the guest itself has no mapping (a real #PF).
   */
  private syncShadow(asid: number, gva: number, write: boolean): boolean {
    const leaf = this.guestLeaf(asid, gva);
    if (leaf === null || (write && !leaf.writable)) return false;
    this.setGuestAccessed(asid, gva, write);
    let host = this.eptLeaf(leaf.gpa);
    if (host === null) {
      this.back(leaf.gpa);
      host = this.eptLeaf(leaf.gpa) as EptLeaf;
    }
    const size = Math.min(leaf.size, host.size) as PageSize;
    const level = size === PAGE_4K ? 1 : size === PAGE_2M ? 2 : 3;
    const vpn = Math.floor(gva / PAGE_4K);
    const sDir = this.sDir as TablePool;
    let slot = (this.sRoot as Int32Array)[asid];
    for (let l = this.guestLevels; l > level; l--) {
      const i = slot * ENTRIES + (Math.floor(vpn / SPAN[l]) & 511);
      const e = sDir.entries[i];
      if ((e & PTE_P) !== 0 && (e & PTE_PS) === 0) {
        slot = (sDir.child as Int32Array)[i];
        continue;
      }
      const nextPool = l - 1 === 1 ? (this.sLeaf as TablePool) : sDir;
      const next = nextPool.alloc(this.hostFrame(ORDER_4K, true));
      sDir.entries[i] = nextPool.frame[next] * PAGE_4K + PTE_P + PTE_RW + PTE_US;
      (sDir.child as Int32Array)[i] = next;
      slot = next;
    }
    const pool = level === 1 ? (this.sLeaf as TablePool) : sDir;
    const i = slot * ENTRIES + (Math.floor(vpn / SPAN[level]) & 511);
    const hpaBase = host.hpa - (leaf.gpa % size);
    // Read-only until the guest PTE is dirty, so the first write traps and sets D (dirty tracking).
    const rw = leaf.writable && (leaf.dirty || write) ? PTE_RW : 0;
    if (pool.entries[i] === 0) this.counters[C.shadowLeaves]++;
    pool.entries[i] = hpaBase + PTE_P + rw + PTE_US + PTE_A + (level > 1 ? PTE_PS : 0);
    return true;
  }

  private setGuestAccessed(asid: number, gva: number, write: boolean): void {
    const vpn = Math.floor(gva / PAGE_4K);
    let slot = this.gRoot[asid];
    for (let l = this.guestLevels; l >= 1; l--) {
      const pool = l === 1 ? this.gLeaf : this.gDir;
      const i = slot * ENTRIES + (Math.floor(vpn / SPAN[l]) & 511);
      let e = pool.entries[i];
      if ((e & PTE_A) === 0) e += PTE_A;
      if (l === 1 || (e & PTE_PS) !== 0) {
        if (write && (e & PTE_D) === 0) e += PTE_D;
        pool.entries[i] = e;
        return;
      }
      pool.entries[i] = e;
      slot = (this.gDir.child as Int32Array)[i];
    }
  }

  /** Clears shadow leaves inside [gva, gva+bytes) after the guest changed its mapping. */
  private zapShadow(asid: number, gva: number, bytes: number): void {
    const sDir = this.sDir as TablePool;
    const base = Math.floor(gva / bytes) * bytes;
    const zap = (slot: number, level: number, start: number): void => {
      const span = SPAN[level] * PAGE_4K;
      const pool = level === 1 ? (this.sLeaf as TablePool) : sDir;
      for (let idx = 0; idx < ENTRIES; idx++) {
        const lo = start + idx * span;
        if (lo + span <= base || lo >= base + bytes) continue;
        const i = slot * ENTRIES + idx;
        const e = pool.entries[i];
        if ((e & PTE_P) === 0) continue;
        if (level === 1 || (e & PTE_PS) !== 0) {
          pool.entries[i] = 0;
          this.counters[C.shadowLeaves]--;
        } else zap((sDir.child as Int32Array)[i], level - 1, lo);
      }
    };
    zap((this.sRoot as Int32Array)[asid], this.guestLevels, 0);
  }

  private dropShadowTables(): void {
    const sDir = this.sDir as TablePool;
    const sLeaf = this.sLeaf as TablePool;
    for (const pool of [sDir, sLeaf]) {
      for (let s = 0; s < pool.used; s++) this.host.free(pool.frame[s], ORDER_4K, this.owner);
    }
    this.sDir = new TablePool(true);
    this.sLeaf = new TablePool(false);
    this.counters[C.shadowLeaves] = 0;
    const roots = this.sRoot as Int32Array;
    for (let a = 0; a <= MAX_ASID; a++) {
      if (roots[a] >= 0) roots[a] = this.sDir.alloc(this.hostFrame(ORDER_4K, true));
    }
  }

  // ---------------------------------------------------------------- ownership

  /** Every host block this VM holds: EPT leaves (RAM) and the frames of EPT and shadow tables. */
  *hostBlocks(): Generator<{ frame: number; order: Order; kind: "ram" | "ept" | "shadow" }> {
    const walk = function* (
      self: VmMemory,
      slot: number,
      level: number,
    ): Generator<{ frame: number; order: Order; kind: "ram" | "ept" | "shadow" }> {
      const pool = level === 1 ? self.eLeaf : self.eDir;
      yield { frame: pool.frame[slot], order: ORDER_4K, kind: "ept" };
      for (let idx = 0; idx < ENTRIES; idx++) {
        const i = slot * ENTRIES + idx;
        const e = pool.entries[i];
        if ((e & EPT_RWX) === 0 || (e & 3) === EPT_W) continue;
        if (level === 1 || (e & EPT_PS) !== 0) {
          const order = (level === 3 ? ORDER_1G : level === 2 ? ORDER_2M : ORDER_4K) as Order;
          yield { frame: entryFrame(e), order, kind: "ram" };
        } else yield* walk(self, (self.eDir.child as Int32Array)[i], level - 1);
      }
    };
    if (this.eptRoot >= 0) yield* walk(this, this.eptRoot, this.eptLevels);
    for (const pool of [this.sDir, this.sLeaf]) {
      if (pool === null) continue;
      for (let s = 0; s < pool.used; s++) yield { frame: pool.frame[s], order: ORDER_4K, kind: "shadow" };
    }
  }

  /** Gives every host frame back (stop and terminate). Returns the number of 4 KiB frames freed. */
  destroy(): number {
    let frames = 0;
    const blocks = [...this.hostBlocks()];
    for (const b of blocks) {
      this.host.free(b.frame, b.order, this.owner);
      frames += 2 ** b.order;
    }
    this.eptRoot = -1;
    return frames;
  }
}
