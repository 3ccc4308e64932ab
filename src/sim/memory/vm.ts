// One VM's memory: the guest OS's page tables, the hypervisor's EPT (or shadow tables), the TLBs of
// the threads its vCPUs run on, and the two-dimensional walk of Bhargava et al. (ASPLOS 2008).
// This file holds the hardware's hot paths; the software beside it lives in guest-os.ts (the guest
// kernel), ept.ts (EPT violations and remaps), shadow.ts (shadow paging), pv.ts (Xen PV direct
// paging) and persist.ts.

import type { MemoryExitReason } from "../exits";
import type { Order, PageSize } from "./constants";
import * as paging from "./constants";
import * as counters from "./counters";
import { handleEptViolation, remapBacking } from "./ept";
import { FrameAllocator, HostMemoryExhausted } from "./frames";
import { createSpace, handleGuestPageFault, unmapGuest, unmapGuestRange } from "./guest-os";
import { type ResolvedVmOptions, resolveOptions, type VmMemoryOptions } from "./options";
import { mmuextOp, populatePhysmap } from "./pv";
import { EPT_FORMAT, PAGING_FORMAT, RadixTable } from "./radix";
import { dropShadowTables, syncShadow } from "./shadow";
import { Tlb } from "./tlb";
import type { WorkloadImage } from "./workload";

// The hot paths read the constants as this module's own: V8 reads an imported binding through a cell
// it checks on every use, where a module's own const folds into the compiled code.
const {
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
  leafOrder,
  MAX_ASID,
  ORDER_4K,
  PAGE_2M,
  PAGE_4K,
  PTE_A,
  PTE_D,
  PTE_G,
  PTE_P,
  PTE_PS,
  PTE_RW,
  SPAN,
} = paging;
const { C, EXIT_COUNTER, NCOUNTERS } = counters;

// Hot-path copies of the radix geometry, as reciprocals: multiplying by a power of two is
// exact, and a division by a variable costs several times more on the walk's critical path.
const INV_SPAN = Float64Array.from(SPAN, (s) => (s === 0 ? 0 : 1 / s));
const SPAN_BYTES = Float64Array.from(SPAN, (s) => s * PAGE_4K);
const INV_SPAN_BYTES = Float64Array.from(SPAN, (s) => (s === 0 ? 0 : 1 / (s * PAGE_4K)));

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
  global: boolean;
}

export interface EptLeaf {
  hpa: number;
  size: PageSize;
  misconfigured: boolean;
}

/**
 * The memory of one VM. Fields are public so the handlers beside this file and the step-by-step
 * tracer (trace.ts) can follow the same structures; nothing outside sim/memory should write them.
 */
export class VmMemory {
  // Fields the constructor sets are `declare`d, not defined: a field defined without a value starts
  // as undefined, and V8 then keeps every such field tagged, so each number read on a walk is checked
  // and each double boxed. Declared, a field takes its representation from the constructor's store.
  declare readonly opts: ResolvedVmOptions;
  declare readonly memoryBytes: number;
  declare readonly owner: number;
  declare readonly vpid: number;
  declare readonly host: FrameAllocator;
  declare readonly guestLevels: number;
  declare readonly eptLevels: number;
  declare readonly shadow: boolean;
  /** Xen PV direct paging: the guest's tables are the hardware's; the EPT tables hold its P2M. */
  declare readonly direct: boolean;
  /** "Enable VPID": entries carry this VM's VPID; without it, VPID 0 and a flush at every VM transition. */
  declare readonly vpidEnabled: boolean;
  /** CR4.PCIDE: entries carry the address space's PCID; without it, PCID 0 and a flush at every MOV to CR3. */
  declare readonly pcidEnabled: boolean;
  /** VPID and PCID tag bits of a TLB context: ctx(asid) = ctxBase + (asid & pcidMask). */
  declare readonly ctxBase: number;
  declare readonly pcidMask: number;
  /** Names this VM's vCPU v on a thread as key + v (owners are 16-bit, vCPUs at most 256). */
  declare readonly key: number;
  /** The TLBs are this VM's own (no host threads): they are saved with the VM, not with the host. */
  declare readonly ownsTlbs: boolean;
  counters = new Float64Array(NCOUNTERS);
  declare guestAlloc: FrameAllocator;
  /** The guest's page tables (GVA → GPA), one tree per address space, rooted in gRoot. */
  declare gpt: RadixTable;
  /** The EPT (GPA → HPA), rooted in eptRoot. Under shadow paging it is the hypervisor's own map. */
  declare ept: RadixTable;
  /** Shadow tables (GVA → HPA), one tree per address space, rooted in sRoot; null under EPT. */
  spt: RadixTable | null = null;
  eptRoot = -1;
  /** Guest root table per address space (its frame is CR3), -1 when the process does not exist. */
  gRoot = new Int32Array(MAX_ASID + 1).fill(-1);
  /**
   * One past the highest address space that exists (0 before any): a loop over the spaces stops
   * here rather than at MAX_ASID, a process never being removed. Set wherever a gRoot is.
   */
  spaceLimit = 0;
  sRoot: Int32Array | null = null;
  /** The TLBs of each vCPU's thread; vCPUs that share a thread share the object. */
  tlbs: Tlb[] = [];
  declare curAsid: Int32Array;
  // Page-walk caches, per vCPU, direct-mapped. pwc: [tag, ctx, gfn, slot] per (vcpu, level, set).
  declare pwcSets: number;
  pwc: Float64Array | null = null;
  declare ntlbSets: number;
  ntlb: Float64Array | null = null;
  /** Scratch outputs of the hot walks, so they return plain numbers. */
  lastRefs = 0;
  lastEptSize: PageSize = PAGE_4K;
  lastFaultGpa = -1;
  lastGpa = -1;
  lastSize: PageSize = PAGE_4K;
  /** The vCPU whose access is being handled: exits taken inside the handlers happen on it. */
  vcpuNow = 0;
  /** Direct paging: page-table updates queued in the open lazy-MMU section, -1 outside one (pv.ts). */
  mmuBatch = -1;
  /** Direct paging: a TLB flush waits for the end of the lazy-MMU section. */
  flushPending = false;
  /** What the workload's sampled accesses did here (workload.ts); null until the first sample. */
  workload: WorkloadImage | null = null;

  constructor(
    host: FrameAllocator,
    owner: number,
    memoryBytes: number,
    options: VmMemoryOptions = {},
    empty = false,
    /** The host's TLBs of a hardware thread; without it, threads are this VM's own. */
    threadTlb: ((thread: number) => Tlb) | null = null,
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
    this.direct = this.opts.mode === "direct";
    this.vpidEnabled = this.opts.vpid;
    this.pcidEnabled = this.opts.pcid;
    this.ctxBase = this.vpidEnabled ? this.vpid * 4096 : 0;
    this.pcidMask = this.pcidEnabled ? MAX_ASID : 0;
    this.key = owner * 256;
    this.guestAlloc = new FrameAllocator(memoryBytes / PAGE_4K);
    this.gpt = new RadixTable(this.guestLevels, PAGING_FORMAT);
    this.ept = new RadixTable(this.eptLevels, EPT_FORMAT);
    this.curAsid = new Int32Array(this.opts.vcpus).fill(-1);
    const threads = this.opts.threads;
    this.ownsTlbs = threadTlb === null || threads.length === 0;
    const own = new Map<number, Tlb>();
    const tlbOf = (t: number): Tlb => {
      if (threadTlb !== null) return threadTlb(t);
      let tlb = own.get(t);
      if (!tlb) {
        tlb = new Tlb(this.opts.tlb);
        own.set(t, tlb);
      }
      return tlb;
    };
    for (let v = 0; v < this.opts.vcpus; v++)
      this.tlbs.push(threads.length === 0 ? new Tlb(this.opts.tlb) : tlbOf(threads[v]));
    this.pwcSets = this.opts.pageWalkCache.guest;
    this.ntlbSets = this.opts.pageWalkCache.nested;
    if (this.pwcSets > 0) this.pwc = new Float64Array(this.opts.vcpus * 6 * this.pwcSets * 4).fill(-1);
    if (this.ntlbSets > 0) this.ntlb = new Float64Array(this.opts.vcpus * this.ntlbSets * 3).fill(-1);
    if (this.shadow) {
      this.spt = new RadixTable(this.guestLevels, PAGING_FORMAT);
      this.sRoot = new Int32Array(MAX_ASID + 1).fill(-1);
    }
    if (!empty) this.eptRoot = this.ept.dir.alloc(this.hostFrame(ORDER_4K, true));
    if (!empty && this.direct) {
      try {
        populatePhysmap(this);
      } catch (err) {
        // A domain that cannot have all its memory is not built: give back what it got.
        this.destroy();
        throw err;
      }
    }
  }

  // ---------------------------------------------------------------- hot paths

  /**
   * One guest access as the hardware performs it: TLB, then the walk. Returns the HPA
   * or a negative fault code (constants.ts) without handling the fault. `gva` must be a
   * canonical non-negative safe integer (the facade validates).
   */
  access(vcpu: number, asid: number, gva: number, write: boolean): number {
    const tlb = this.tlbs[vcpu];
    if (tlb.resident !== this.key + vcpu || this.curAsid[vcpu] !== asid) this.load(vcpu, asid);
    const ctx = this.ctxBase + (asid & this.pcidMask);
    const hpa = tlb.lookup(gva, ctx, write);
    if (hpa >= 0) return hpa;
    if (this.direct) return this.walkDirect(vcpu, asid, gva, write, ctx);
    return this.shadow
      ? this.walkShadow(vcpu, asid, gva, write, ctx)
      : this.walk2d(vcpu, asid, gva, write, ctx);
  }

  /**
   * An access the caller knows the TLB missed: the walk alone, counted as a miss. The workload's sampled
   * accesses (workload.ts) stand for its TLB misses, which the rest of its traffic evicted from the TLB
   * between samples, so they walk whatever the small sample left cached. Returns what `access` returns.
   */
  walkMiss(vcpu: number, asid: number, gva: number, write: boolean): number {
    const tlb = this.tlbs[vcpu];
    if (tlb.resident !== this.key + vcpu || this.curAsid[vcpu] !== asid) this.load(vcpu, asid);
    const ctx = this.ctx(asid);
    this.counters[C.tlbMisses]++;
    if (this.direct) return this.walkDirect(vcpu, asid, gva, write, ctx);
    return this.shadow
      ? this.walkShadow(vcpu, asid, gva, write, ctx)
      : this.walk2d(vcpu, asid, gva, write, ctx);
  }

  /** Runs the vCPU on its thread with asid's CR3 loaded, and returns the TLB context its accesses use. */
  load(vcpu: number, asid: number): number {
    if (this.tlbs[vcpu].resident !== this.key + vcpu) this.enter(vcpu);
    if (this.curAsid[vcpu] !== asid) this.switchCr3(vcpu, asid);
    return this.ctx(asid);
  }

  /** The TLB context (VPID and PCID tags) of an address space. */
  ctx(asid: number): number {
    return this.ctxBase + (asid & this.pcidMask);
  }

  /**
   * The vCPU takes its thread from the one that ran there last: that one's VM exit, then this one's
   * VM entry. Each transition without VPID drops every entry tagged VPID 0 (SDM Vol. 3C §28.3.3.1),
   * and only an untagged vCPU makes such entries, so they never outlive it on the thread; entries
   * tagged with a VPID wait for their VM to come back.
   */
  enter(vcpu: number): void {
    const tlb = this.tlbs[vcpu];
    if (tlb.resident >= 0 && (tlb.residentUntagged || !this.vpidEnabled)) {
      this.countFlush(tlb.flushVpid(0));
    }
    // Paging-structure caches are kept per vCPU here; an untagged one's entries do not survive its entry.
    if (tlb.resident >= 0 && !this.vpidEnabled) this.flushPwc(vcpu);
    // The thread's TLB gets its storage when a vCPU first runs on it.
    tlb.allocate();
    tlb.setResident(this.key + vcpu, !this.vpidEnabled);
    tlb.acct = this.counters;
  }

  /**
   * MOV to CR3: exits under shadow paging; a PV guest asks Xen instead (MMUEXT_NEW_BASEPTR, an
   * mmuext_op). With CR4.PCIDE = 0 every address space is PCID 0, and the write drops that PCID's
   * entries except the global ones, and its paging-structure caches (SDM Vol. 3A §4.10.4.1). With
   * PCIDs the guest sets bit 63, as Linux does when it returns to a PCID it still holds, and nothing
   * is dropped.
   */
  switchCr3(vcpu: number, asid: number): void {
    this.counters[C.cr3Switches]++;
    this.curAsid[vcpu] = asid;
    if (this.gRoot[asid] < 0) createSpace(this, asid);
    if (this.shadow) this.vmExit("cr_access", vcpu);
    if (this.direct) mmuextOp(this);
    if (!this.pcidEnabled) {
      this.countFlush(this.tlbs[vcpu].flushContext(this.ctxBase));
      this.flushPwc(vcpu);
    }
  }

  /** Counts one flush and the entries it dropped. */
  countFlush(dropped: number): void {
    this.counters[C.tlbFlushes]++;
    this.counters[C.tlbInvalidations] += dropped;
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
    const ept = this.ept;
    const dirE = ept.dir.entries;
    const dirC = ept.dir.child as Int32Array;
    const leafE = ept.leaf.entries;
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
    const gpt = this.gpt;
    const dirE = gpt.dir.entries;
    const dirC = gpt.dir.child as Int32Array;
    const leafE = gpt.leaf.entries;
    let level = this.guestLevels;
    let slot = this.gRoot[asid];
    let tableGfn = gpt.dir.frame[slot];
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
    // The page number's low 27 bits index levels 1 to 3 with int32 shifts; the bits above, levels 4 and 5.
    const vlo = vpn & 0x7ffffff;
    const vhi = Math.floor(vpn * 7.450580596923828e-9);
    let refs = 0;
    let nestedRefs = 0;
    let writable = true;
    let global = false;
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
      nestedRefs += this.lastRefs;
      if (nested < 0 || final) {
        hpa = nested;
        break;
      }
      refs++;
      const idx = level > 3 ? (vhi >>> (9 * level - 36)) & 511 : (vlo >>> (9 * level - 9)) & 511;
      const arr = level === 1 ? leafE : dirE;
      const i = slot * ENTRIES + idx;
      let e = arr[i];
      if ((e & PTE_P) === 0 || (write && (e & PTE_RW) === 0)) {
        c[C.walkRefs] += refs;
        c[C.nestedRefs] += nestedRefs;
        this.lastRefs = refs;
        return FAULT_GUEST_PF;
      }
      if ((e & PTE_RW) === 0) writable = false;
      if ((e & PTE_A) === 0) {
        e += PTE_A;
        arr[i] = e;
        gpt.pool(level).markWritten(i);
      }
      if (level === 1 || (e & PTE_PS) !== 0) {
        if (write && (e & PTE_D) === 0) {
          e += PTE_D;
          arr[i] = e;
          gpt.pool(level).markWritten(i);
        }
        size = SPAN_BYTES[level];
        global = (e & PTE_G) !== 0;
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
    c[C.nestedRefs] += nestedRefs;
    this.lastRefs = refs;
    this.lastGpa = final ? gpa : -1;
    if (hpa < 0) return hpa;
    if (this.lastEptSize < size) size = this.lastEptSize;
    this.lastSize = size as PageSize;
    // gva is a safe integer and size a power of two below 2^31: ToInt32 keeps the bits the mask takes.
    const off = gva & (size - 1);
    // Walks follow a lookup that missed, so after a read the TLB cannot hold the page.
    this.tlbs[vcpu].insert(gva, ctx, size as PageSize, hpa - off, writable, write, global, !write);
    return hpa;
  }

  /** The hardware walk of a shadow table: GVA → HPA directly, n references. */
  walkShadow(vcpu: number, asid: number, gva: number, write: boolean, ctx: number): number {
    const c = this.counters;
    c[C.walks]++;
    const spt = this.spt as RadixTable;
    const dirE = spt.dir.entries;
    const dirC = spt.dir.child as Int32Array;
    const leafE = spt.leaf.entries;
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
          (e & PTE_G) !== 0,
          !write,
        );
        return entryFrame(e) * PAGE_4K + off;
      }
      slot = dirC[i];
      level--;
    }
  }

  /**
   * The hardware walk under direct paging: the guest's own table, GVA → machine address, one
   * reference per level and no second dimension. A PV guest writes machine frames into its entries
   * (xen_make_pte translates each through its P2M before the mmu_update); the model keeps
   * pseudo-physical frames there and applies the P2M as it reads the leaf, which stands for that
   * translation and costs the walk no reference.
   */
  walkDirect(vcpu: number, asid: number, gva: number, write: boolean, ctx: number): number {
    const c = this.counters;
    c[C.walks]++;
    const vpn = Math.floor(gva * 0.000244140625);
    const gpt = this.gpt;
    const dirE = gpt.dir.entries;
    const dirC = gpt.dir.child as Int32Array;
    const leafE = gpt.leaf.entries;
    let level = this.guestLevels;
    let slot = this.gRoot[asid];
    let refs = 0;
    let writable = true;
    for (;;) {
      const arr = level === 1 ? leafE : dirE;
      const i = slot * ENTRIES + (Math.floor(vpn * INV_SPAN[level]) & 511);
      let e = arr[i];
      refs++;
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
        let size = SPAN_BYTES[level];
        const gpa = e - (e & 4095) + (gva - Math.floor(gva * INV_SPAN_BYTES[level]) * size);
        // The P2M, filled when the domain was built: it cannot fault.
        const hpa = this.eptWalk(gpa);
        c[C.walkRefs] += refs;
        this.lastRefs = refs;
        this.lastGpa = gpa;
        if (hpa < 0) return hpa;
        if (this.lastEptSize < size) size = this.lastEptSize;
        this.lastSize = size as PageSize;
        const off = gva & (size - 1);
        // As in walk2d: a read's walk follows a lookup that missed. The G bit counts as on any walk,
        // though a PV guest's kernel never sets it (guest-os.ts).
        const global = (e & PTE_G) !== 0;
        this.tlbs[vcpu].insert(gva, ctx, size as PageSize, hpa - off, writable, write, global, !write);
        return hpa;
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
        handleGuestPageFault(this, vcpu, asid, gva);
      } else if (r === FAULT_EPT_VIOLATION) {
        this.vmExit("ept_violation", vcpu);
        const gpa = this.lastFaultGpa;
        handleEptViolation(this, gpa);
        // A first MMIO access: the entry is now misconfigured and the access is emulated (KVM).
        if (gpa >= this.memoryBytes) return out(null, true);
      } else if (r === FAULT_EPT_MISCONFIG) {
        // The hypervisor emulates the device access and resumes; there is no RAM behind it.
        this.vmExit("ept_misconfig", vcpu);
        return out(null, true);
      } else {
        this.vmExit("shadow_page_fault", vcpu);
        if (!syncShadow(this, asid, gva, write)) handleGuestPageFault(this, vcpu, asid, gva);
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
      handleEptViolation(this, gpa);
      if (gpa >= this.memoryBytes) return { hpa: null, mmio: true };
    }
    throw new Error(`gpa ${gpa} could not be backed`);
  }

  vmExit(reason: MemoryExitReason, vcpu: number): void {
    this.counters[C.exits]++;
    this.counters[EXIT_COUNTER[reason]]++;
    // Without VPID, every VM exit (and the entry after it) drops VPID 0's entries (SDM Vol. 3C §28.3.3.1).
    if (!this.vpidEnabled) {
      const tlb = this.tlbs[vcpu];
      if (tlb.resident !== this.key + vcpu) this.enter(vcpu);
      this.countFlush(tlb.flushVpid(0));
      this.flushPwc(vcpu);
    }
  }

  // ---------------------------------------------------------------- software walks

  /** The guest's software walk (no hardware references counted): used by handlers and tests. */
  guestLeaf(asid: number, gva: number): GuestLeaf | null {
    if (asid < 0 || asid > MAX_ASID || this.gRoot[asid] < 0) return null;
    const gpt = this.gpt;
    const i = gpt.findLeaf(this.gRoot[asid], Math.floor(gva / PAGE_4K));
    if (i < 0) return null;
    const e = gpt.pool(gpt.level).entries[i];
    const size = leafBytes(gpt.level);
    return {
      gpa: entryFrame(e) * PAGE_4K + (gva % size),
      size,
      writable: (e & PTE_RW) !== 0,
      dirty: (e & PTE_D) !== 0,
      global: (e & PTE_G) !== 0,
    };
  }

  /** EPT leaf covering gpa, found by the hypervisor's software walk (no references counted). */
  eptLeaf(gpa: number): EptLeaf | null {
    const ept = this.ept;
    const i = ept.findLeaf(this.eptRoot, Math.floor(gpa / PAGE_4K));
    if (i < 0) return null;
    const e = ept.pool(ept.level).entries[i];
    if ((e & 3) === EPT_W) return { hpa: -1, size: PAGE_4K, misconfigured: true };
    const size = leafBytes(ept.level);
    return { hpa: entryFrame(e) * PAGE_4K + (gpa % size), size, misconfigured: false };
  }

  // ---------------------------------------------------------------- requests from outside

  /** munmap of gva's page: clear the PTE, free the guest frame, shoot down every vCPU's TLB. */
  unmap(asid: number, gva: number): boolean {
    return unmapGuest(this, asid, gva);
  }

  /** munmap of [gva, gva + bytes): every page mapped in it. Returns how many leaves went. */
  unmapRange(asid: number, gva: number, bytes: number): number {
    return unmapGuestRange(this, asid, gva, bytes);
  }

  /**
   * Moves the backing of gpa's EPT leaf to another host block (compaction, NUMA moves):
   * copy, repoint, free the old block, then INVEPT so no vCPU keeps the stale HPA.
   */
  remap(gpa: number): { gpa: number; size: PageSize; oldHpa: number; newHpa: number } | null {
    return remapBacking(this, gpa);
  }

  // ---------------------------------------------------------------- the hypervisor's TLB maintenance

  /** INVEPT single-context: every combined translation derived from this EPT goes. */
  invept(): void {
    this.counters[C.invept]++;
    for (const t of new Set(this.tlbs)) this.countFlush(this.dropOwn(t));
    this.ntlb?.fill(-1);
    // Shadow tables cache HPAs too; dropping them all is coarser than KVM's rmap but safe.
    if (this.shadow) dropShadowTables(this);
  }

  /** INVVPID single-context: drops the VM's guest-linear translations on every vCPU. */
  invvpid(): void {
    this.counters[C.invvpid]++;
    for (const t of new Set(this.tlbs)) this.countFlush(this.dropOwn(t));
    for (let v = 0; v < this.tlbs.length; v++) this.flushPwc(v);
  }

  /**
   * True when a thread's TLB may hold this VM's entries: tagged ones wait for it anywhere it ran;
   * untagged ones (VPID 0) last only while one of its vCPUs is resident.
   */
  holdsEntriesIn(t: Tlb): boolean {
    return this.vpidEnabled || (t.resident >= 0 && Math.floor(t.resident / 256) === this.owner);
  }

  /** Drops this VM's entries, and only its, from one thread's TLB (INVVPID or INVEPT single-context). */
  private dropOwn(t: Tlb): number {
    if (this.vpidEnabled) return t.flushVpid(this.vpid);
    return this.holdsEntriesIn(t) ? t.flushVpid(0) : 0;
  }

  flushPwc(vcpu: number): void {
    const pwc = this.pwc;
    if (pwc === null) return;
    const per = 6 * this.pwcSets * 4;
    pwc.fill(-1, vcpu * per, (vcpu + 1) * per);
  }

  // ---------------------------------------------------------------- ownership

  /** A host block for this VM; a table (`required`) that cannot get one is a hard failure. */
  hostFrame(order: Order, required: boolean): number {
    const f = this.host.alloc(order, this.owner);
    if (f < 0 && required) throw new HostMemoryExhausted("host has no free frame for a page table");
    return f;
  }

  /** Every host block this VM holds: EPT leaves (RAM) and the frames of EPT and shadow tables. */
  *hostBlocks(): Generator<{ frame: number; order: Order; kind: "ram" | "ept" | "shadow" }> {
    const ept = this.ept;
    const walk = function* (
      slot: number,
      level: number,
    ): Generator<{ frame: number; order: Order; kind: "ram" | "ept" | "shadow" }> {
      const pool = ept.pool(level);
      yield { frame: pool.frame[slot], order: ORDER_4K, kind: "ept" };
      for (let idx = 0; idx < ENTRIES; idx++) {
        const i = slot * ENTRIES + idx;
        const e = pool.entries[i];
        if ((e & EPT_RWX) === 0 || (e & 3) === EPT_W) continue;
        if (level === 1 || (e & EPT_PS) !== 0)
          yield { frame: entryFrame(e), order: leafOrder(level), kind: "ram" };
        else yield* walk(ept.child(i), level - 1);
      }
    };
    if (this.eptRoot >= 0) yield* walk(this.eptRoot, this.eptLevels);
    if (this.spt !== null) {
      for (const pool of [this.spt.dir, this.spt.leaf]) {
        for (let s = 0; s < pool.used; s++) yield { frame: pool.frame[s], order: ORDER_4K, kind: "shadow" };
      }
    }
  }

  /** Gives every host frame back (stop and terminate). Returns the number of 4 KiB frames freed. */
  destroy(): number {
    // The VPID (the owner number) goes back to the host's pool, and nothing tagged with it may serve
    // the next VM to get it: the hypervisor invalidates it, and the threads have no one resident.
    for (const t of new Set(this.tlbs)) {
      this.dropOwn(t);
      if (t.resident >= 0 && Math.floor(t.resident / 256) === this.owner) {
        t.setResident(-1, false);
        t.acct = new Float64Array(NCOUNTERS);
      }
      // A thread left with no vCPU resident and nothing cached gives its TLB storage back.
      t.release();
    }
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
