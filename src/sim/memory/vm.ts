// One VM's memory: the guest OS's page tables, the hypervisor's EPT (or shadow tables),
// per-vCPU TLBs and the two-dimensional walk of Bhargava et al. (ASPLOS 2008).
// This file holds the hardware's hot paths; the software beside it lives in guest-os.ts (the guest
// kernel), ept.ts (EPT violations and remaps), shadow.ts (shadow paging) and persist.ts.

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
  leafOrder,
  MAX_ASID,
  ORDER_4K,
  type Order,
  PAGE_2M,
  PAGE_4K,
  type PageSize,
  PTE_A,
  PTE_D,
  PTE_P,
  PTE_PS,
  PTE_RW,
  SPAN,
} from "./constants";
import { C, EXIT_COUNTER, NCOUNTERS } from "./counters";
import { handleEptViolation, remapBacking } from "./ept";
import { FrameAllocator, HostMemoryExhausted } from "./frames";
import { createSpace, handleGuestPageFault, unmapGuest } from "./guest-os";
import { type ResolvedVmOptions, resolveOptions, type VmMemoryOptions } from "./options";
import { EPT_FORMAT, PAGING_FORMAT, RadixTable } from "./radix";
import { dropShadowTables, syncShadow } from "./shadow";
import { Tlb } from "./tlb";
import type { WorkloadImage } from "./workload";

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
  /** The guest's page tables (GVA → GPA), one tree per address space, rooted in gRoot. */
  gpt: RadixTable;
  /** The EPT (GPA → HPA), rooted in eptRoot. Under shadow paging it is the hypervisor's own map. */
  ept: RadixTable;
  /** Shadow tables (GVA → HPA), one tree per address space, rooted in sRoot; null under EPT. */
  spt: RadixTable | null = null;
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
  /** The vCPU whose access is being handled: exits taken inside the handlers happen on it. */
  vcpuNow = 0;
  /** What the workload's sampled accesses did here (workload.ts); null until the first sample. */
  workload: WorkloadImage | null = null;

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
    this.gpt = new RadixTable(this.guestLevels, PAGING_FORMAT);
    this.ept = new RadixTable(this.eptLevels, EPT_FORMAT);
    this.curAsid = new Int32Array(this.opts.vcpus).fill(-1);
    for (let v = 0; v < this.opts.vcpus; v++) this.tlbs.push(new Tlb(this.opts.tlb));
    this.pwcSets = this.opts.pageWalkCache.guest;
    this.ntlbSets = this.opts.pageWalkCache.nested;
    if (this.pwcSets > 0) this.pwc = new Float64Array(this.opts.vcpus * 6 * this.pwcSets * 4).fill(-1);
    if (this.ntlbSets > 0) this.ntlb = new Float64Array(this.opts.vcpus * this.ntlbSets * 3).fill(-1);
    if (this.shadow) {
      this.spt = new RadixTable(this.guestLevels, PAGING_FORMAT);
      this.sRoot = new Int32Array(MAX_ASID + 1).fill(-1);
    }
    if (!empty) this.eptRoot = this.ept.dir.alloc(this.hostFrame(ORDER_4K, true));
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

  /**
   * An access the caller knows the TLB missed: the walk alone, counted as a miss. The workload's sampled
   * accesses (workload.ts) stand for its TLB misses, which the rest of its traffic evicted from the TLB
   * between samples, so they walk whatever the small sample left cached. Returns what `access` returns.
   */
  walkMiss(vcpu: number, asid: number, gva: number, write: boolean): number {
    if (this.curAsid[vcpu] !== asid) this.switchCr3(vcpu, asid);
    const ctx = this.tagged ? this.vpid * 4096 + asid : 0;
    this.tlbs[vcpu].misses++;
    return this.shadow
      ? this.walkShadow(vcpu, asid, gva, write, ctx)
      : this.walk2d(vcpu, asid, gva, write, ctx);
  }

  /** MOV CR3: exits under shadow paging; without tags it also empties the TLB. */
  switchCr3(vcpu: number, asid: number): void {
    this.counters[C.cr3Switches]++;
    this.curAsid[vcpu] = asid;
    if (this.gRoot[asid] < 0) createSpace(this, asid);
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
    let refs = 0;
    let nestedRefs = 0;
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
      nestedRefs += this.lastRefs;
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
        c[C.nestedRefs] += nestedRefs;
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
    c[C.nestedRefs] += nestedRefs;
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
    // Without VPID, every VM entry and exit flushes the TLB (SDM §28.1).
    if (!this.tagged) {
      this.tlbs[vcpu].flushAll();
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
    for (const t of this.tlbs) t.flushVpid(this.tagged ? this.vpid : 0);
    this.ntlb?.fill(-1);
    // Shadow tables cache HPAs too; dropping them all is coarser than KVM's rmap but safe.
    if (this.shadow) dropShadowTables(this);
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
