// The memory of one physical host: frames shared by its VMs, each VM's two-level translation, and
// the TLBs of the hardware threads its vCPUs run on. This is the facade a Host Durable Object holds;
// see vm.ts for the model and its sources.

import { MAX_ASID, PAGE_4K, type PageSize } from "./constants";
import { C } from "./counters";
import { type Image, materialize } from "./dirty";
import { FrameAllocator, type FrameAllocatorSnapshot, HostMemoryExhausted, MAX_OWNER } from "./frames";
import type { PagingMode, VmMemoryOptions } from "./options";
import { imageVm, restoreVm, type VmMemorySnapshot } from "./persist";
import { type CompactTlbSnapshot, DEFAULT_TLB, Tlb, type TlbConfig, type TlbSnapshot } from "./tlb";
import { type Translation, traceTranslate } from "./trace";
import { type TouchResult, VmMemory } from "./vm";
import { takeDirtyLog, type WorkloadSummary, workloadSummary } from "./workload";

export { PAGE_1G, PAGE_2M, PAGE_4K, type PageSize } from "./constants";
export { DirtyUnits, type Image, materialize, Tracked, type TypedArray } from "./dirty";
export { HostMemoryExhausted, IsolationError } from "./frames";
export { largePageSizes, type PagingMode, resolveOptions, type VmMemoryOptions } from "./options";
export type { VmMemorySnapshot } from "./persist";
export { DEFAULT_TLB, type TlbConfig, type TlbGeometry } from "./tlb";
export type { EptWalkTrace, GuestLevelStep, MemoryReference, Translation } from "./trace";
export { type TouchResult, VmMemory } from "./vm";
export {
  bootWorkload,
  eptViolationsPerNewPage,
  nestedRefsPerMiss,
  packWorkload,
  ptWritesPerUpdate,
  sampleWorkload,
  tlbMissShare,
  unpackWorkload,
  type WorkloadDemand,
  type WorkloadSummary,
  workloadSamples,
} from "./workload";

export interface VmMemorySummary {
  vmId: string;
  memoryBytes: number;
  mode: PagingMode;
  /** TLB entries tagged with the VM's VPID, and with each address space's PCID. */
  vpid: boolean;
  pcid: boolean;
  /** The host thread of each vCPU; empty when each vCPU has TLBs of its own. */
  threads: number[];
  guestLevels: number;
  eptLevels: number;
  vcpus: number;
  addressSpaces: number;
  /** Guest-physical bytes with host frames behind them (EPT leaves). */
  backedBytes: number;
  /** Guest-physical bytes the guest has used: its data pages and page tables. */
  touchedBytes: number;
  /** Share of backed bytes that sit on 2 MiB or 1 GiB EPT leaves. */
  hugePageShare: number;
  eptLeaves: { "4k": number; "2m": number; "1g": number };
  guestLeaves: { "4k": number; "2m": number; "1g": number };
  pageTableBytes: { guest: number; ept: number; shadow: number };
  hostFrames: number;
  tlb: {
    hits: number;
    misses: number;
    hitRate: number;
    /** Hits the second-level TLB answered after a first-level miss (part of `hits`). */
    secondLevelHits: number;
    flushes: number;
    invalidations: number;
  };
  walks: {
    count: number;
    memoryReferences: number;
    averageReferences: number;
    pwcHits: number;
    nestedTlbHits: number;
  };
  faults: { guestPageFaults: number; eptViolations: number; eptMisconfigurations: number };
  vmExits: {
    total: number;
    eptViolation: number;
    eptMisconfiguration: number;
    pageTableWrite: number;
    shadowPageFault: number;
    guestPageFault: number;
    cr3Write: number;
    invlpg: number;
  };
  /**
   * A paravirtual guest's (direct paging) entries into Xen for its page tables, which take the place of
   * VM exits: mmu_update hypercalls and the page-table updates they carried, and mmuext_op hypercalls.
   */
  hypercalls: { mmu_update: number; mmuext_op: number };
  pageTableUpdates: number;
  invept: number;
  invvpid: number;
  remaps: number;
  /**
   * What the guest's workload played here, by sample (workload.ts): every count above holds the sampled
   * events, each standing for `representedEvents / sampledEvents` of the workload's.
   */
  workload: WorkloadSummary;
}

export interface HostMemorySummary {
  hostBytes: number;
  totalFrames: number;
  freeFrames: number;
  usedFrames: number;
  free2M: number;
  free1G: number;
  /** Share of free memory that cannot back a 2 MiB page. */
  fragmentation: number;
  owners: Array<{ vmId: string; frames: number; bytes: number }>;
}

/**
 * Version 2 added the hardware threads' TLBs and the VMs' TLB tags and threads; a version-1 snapshot
 * restores with its TLB entries dropped (a TLB may drop any entry) and its `tagged` option read as
 * vpid and pcid. Version 3 stores each TLB with every slot in place (TlbSnapshot) where version 2
 * stored its live entries alone (CompactTlbSnapshot), which moved with every fill; both restore exactly.
 */
export interface HostMemorySnapshot {
  version: 1 | 2 | 3;
  hostBytes: number;
  frames: FrameAllocatorSnapshot;
  /** Geometry of the threads' TLBs (since version 2). */
  tlb?: TlbConfig;
  /** The TLBs of the threads vCPUs have run on (since version 2). */
  threadTlbs?: Array<{ thread: number; tlb: TlbSnapshot | CompactTlbSnapshot }>;
  vms: Array<{ vmId: string; vm: VmMemorySnapshot }>;
}

export class UnknownVmError extends Error {
  override name = "UnknownVmError";
}

export class HostMemory {
  declare readonly hostBytes: number;
  declare private frames: FrameAllocator;
  private vms = new Map<string, VmMemory>();
  private owners = new Map<number, string>();
  /** The TLBs of each hardware thread a pinned vCPU has run on, shared by every vCPU scheduled there. */
  private threadTlbs = new Map<number, Tlb>();
  /** Geometry of the host CPU's TLBs. */
  declare readonly tlbConfig: TlbConfig;

  constructor(hostBytes: number, tlb: TlbConfig = DEFAULT_TLB) {
    if (!Number.isSafeInteger(hostBytes) || hostBytes <= 0 || hostBytes % (2 * 1024 * 1024) !== 0) {
      throw new RangeError("hostBytes must be a positive multiple of 2 MiB");
    }
    this.hostBytes = hostBytes;
    this.tlbConfig = tlb;
    this.frames = new FrameAllocator(hostBytes / PAGE_4K);
  }

  /**
   * Threads whose TLBs may differ from what a store last took of them (`takeTouchedThreads`); all of
   * them (`null`) for a model made or restored, of which a store's copy is not known here.
   */
  private touchedThreads: Set<number> | null = null;

  /** The TLBs of hardware thread `t`, made on first use. */
  private readonly threadTlb = (t: number): Tlb => {
    let tlb = this.threadTlbs.get(t);
    if (!tlb) {
      const made = new Tlb(this.tlbConfig);
      made.watch(() => this.touchedThreads?.add(t));
      this.threadTlbs.set(t, made);
      this.touchedThreads?.add(t);
      tlb = made;
    }
    return tlb;
  };

  /**
   * The threads whose TLBs may have changed since the last call (made, filled, emptied, or another
   * vCPU resident), in order; every thread's on the first call. A store checks those alone.
   */
  takeTouchedThreads(): number[] {
    const touched = this.touchedThreads;
    this.touchedThreads = new Set();
    return touched === null ? this.threads() : [...touched].sort((a, b) => a - b);
  }

  /** Creates the VM's (empty) EPT; RAM is backed later, page by page, on first touch. */
  createVm(vmId: string, memoryBytes: number, options: VmMemoryOptions = {}): VmMemorySummary {
    if (this.vms.has(vmId)) throw new RangeError(`vm ${vmId} already has memory on this host`);
    if (memoryBytes > this.hostBytes) throw new HostMemoryExhausted(`vm ${vmId} is larger than the host`);
    let owner = 1;
    while (this.owners.has(owner)) owner++;
    if (owner > MAX_OWNER) throw new RangeError("too many VMs on one host");
    const vm = new VmMemory(this.frames, owner, memoryBytes, options, false, this.threadTlb);
    this.vms.set(vmId, vm);
    this.owners.set(owner, vmId);
    return this.vmSummary(vmId);
  }

  /** Stop or terminate: every host frame of the VM goes back to the free pool. */
  destroyVm(vmId: string): { framesFreed: number } {
    const vm = this.get(vmId);
    const framesFreed = vm.destroy();
    this.vms.delete(vmId);
    this.owners.delete(vm.owner);
    return { framesFreed };
  }

  hasVm(vmId: string): boolean {
    return this.vms.has(vmId);
  }

  vmIds(): string[] {
    return [...this.vms.keys()];
  }

  /** The VM's model, for hot loops that cannot afford a lookup by id per access. */
  vm(vmId: string): VmMemory {
    return this.get(vmId);
  }

  /** A guest access with every fault handled (guest #PF, EPT violation, shadow sync). */
  touch(vmId: string, asid: number, gva: number | bigint, write = false, vcpu = 0): TouchResult {
    const vm = this.get(vmId);
    return vm.touch(this.vcpu(vm, vcpu), checkAsid(asid), toGva(gva, vm.guestLevels), write);
  }

  /** A guest-kernel access to a guest-physical address (RAM or the MMIO window). */
  touchPhysical(vmId: string, gpa: number, vcpu = 0): { hpa: number | null; mmio: boolean } {
    const vm = this.get(vmId);
    return vm.touchPhysical(gpa, this.vcpu(vm, vcpu));
  }

  /** One hardware access, step by step. Faults are reported, not handled. */
  translate(vmId: string, asid: number, gva: number | bigint, vcpu = 0, write = false): Translation {
    const vm = this.get(vmId);
    return traceTranslate(vm, this.vcpu(vm, vcpu), checkAsid(asid), toGva(gva, vm.guestLevels), write);
  }

  /** The guest unmaps gva's page (munmap) and shoots down the TLBs. */
  unmap(vmId: string, asid: number, gva: number | bigint): boolean {
    const vm = this.get(vmId);
    return vm.unmap(checkAsid(asid), toGva(gva, vm.guestLevels));
  }

  /** The guest unmaps every page in [gva, gva + bytes) in one munmap; returns the leaves unmapped. */
  unmapRange(vmId: string, asid: number, gva: number | bigint, bytes: number): number {
    const vm = this.get(vmId);
    const start = toGva(gva, vm.guestLevels);
    if (!Number.isSafeInteger(bytes) || bytes < 0 || start + bytes > 2 ** (12 + 9 * vm.guestLevels))
      throw new RangeError("bytes must be a non-negative integer that keeps the range in the address space");
    return vm.unmapRange(checkAsid(asid), start, bytes);
  }

  /** The hypervisor moves gpa's backing to other frames (INVEPT follows). */
  remap(vmId: string, gpa: number): { gpa: number; size: PageSize; oldHpa: number; newHpa: number } | null {
    const vm = this.get(vmId);
    if (!Number.isSafeInteger(gpa) || gpa < 0 || gpa >= vm.memoryBytes)
      throw new RangeError(`gpa ${gpa} is not RAM`);
    return vm.remap(gpa);
  }

  /** The guest frames the workload stored to since the last call, ascending (a sample of them). */
  takeDirtyLog(vmId: string): number[] {
    return takeDirtyLog(this.get(vmId));
  }

  /** The VM that owns the frame holding hpa, or null when it is free. */
  ownerOf(hpa: number): string | null {
    const o = this.frames.ownerOf(Math.floor(hpa / PAGE_4K));
    return o === 0 ? null : (this.owners.get(o) ?? null);
  }

  vmSummary(vmId: string): VmMemorySummary {
    const vm = this.get(vmId);
    const c = vm.counters;
    const tlb = {
      hits: c[C.tlbHits],
      misses: c[C.tlbMisses],
      hitRate: c[C.tlbHits] + c[C.tlbMisses] === 0 ? 0 : c[C.tlbHits] / (c[C.tlbHits] + c[C.tlbMisses]),
      secondLevelHits: c[C.stlbHits],
      flushes: c[C.tlbFlushes],
      invalidations: c[C.tlbInvalidations],
    };
    const backedBytes = c[C.backed] * PAGE_4K;
    const hugeBytes = c[C.ept2m] * 512 * PAGE_4K + c[C.ept1g] * 512 * 512 * PAGE_4K;
    let spaces = 0;
    for (let a = 0; a < vm.spaceLimit; a++) if (vm.gRoot[a] >= 0) spaces++;
    return {
      vmId,
      memoryBytes: vm.memoryBytes,
      mode: vm.opts.mode,
      vpid: vm.vpidEnabled,
      pcid: vm.pcidEnabled,
      threads: [...vm.opts.threads],
      guestLevels: vm.guestLevels,
      eptLevels: vm.eptLevels,
      vcpus: vm.opts.vcpus,
      addressSpaces: spaces,
      backedBytes,
      touchedBytes: (vm.guestAlloc.frames - vm.guestAlloc.freeFrames) * PAGE_4K,
      hugePageShare: backedBytes === 0 ? 0 : hugeBytes / backedBytes,
      eptLeaves: { "4k": c[C.ept4k], "2m": c[C.ept2m], "1g": c[C.ept1g] },
      guestLeaves: { "4k": c[C.guest4k], "2m": c[C.guest2m], "1g": c[C.guest1g] },
      pageTableBytes: {
        guest: vm.gpt.live * PAGE_4K,
        ept: vm.ept.live * PAGE_4K,
        shadow: (vm.spt?.live ?? 0) * PAGE_4K,
      },
      hostFrames: this.frames.framesOwnedBy(vm.owner),
      tlb,
      walks: {
        count: c[C.walks],
        memoryReferences: c[C.walkRefs],
        averageReferences: c[C.walks] === 0 ? 0 : c[C.walkRefs] / c[C.walks],
        pwcHits: c[C.pwcHits],
        nestedTlbHits: c[C.ntlbHits],
      },
      faults: {
        guestPageFaults: c[C.guestPageFaults],
        eptViolations: c[C.eptViolations],
        eptMisconfigurations: c[C.eptMisconfigs],
      },
      vmExits: {
        total: c[C.exits],
        eptViolation: c[C.eptViolations],
        eptMisconfiguration: c[C.eptMisconfigs],
        pageTableWrite: c[C.exitPtWrite],
        shadowPageFault: c[C.exitShadowFault],
        guestPageFault: c[C.exitGuestFault],
        cr3Write: c[C.exitCr3],
        invlpg: c[C.exitInvlpg],
      },
      hypercalls: { mmu_update: c[C.mmuUpdates], mmuext_op: c[C.mmuextOps] },
      pageTableUpdates: c[C.pageTableUpdates],
      invept: c[C.invept],
      invvpid: c[C.invvpid],
      remaps: c[C.remaps],
      workload: workloadSummary(vm),
    };
  }

  hostSummary(): HostMemorySummary {
    const { free2M, free1G } = this.frames.freeHuge();
    return {
      hostBytes: this.hostBytes,
      totalFrames: this.frames.frames,
      freeFrames: this.frames.freeFrames,
      usedFrames: this.frames.frames - this.frames.freeFrames,
      free2M,
      free1G,
      fragmentation: this.frames.fragmentation(),
      owners: this.frames.owners().map(([o, frames]) => ({
        vmId: this.owners.get(o) ?? `owner-${o}`,
        frames,
        bytes: frames * PAGE_4K,
      })),
    };
  }

  /** Plain object of typed arrays: cheap to structured-clone into Durable Object storage. */
  snapshot(): HostMemorySnapshot {
    return materialize<HostMemorySnapshot>({
      ...this.imageFrames(),
      vms: this.vmIds().map((id) => this.imageVm(id)),
    });
  }

  /**
   * The host-wide state alone, live (dirty.ts): the frame map and the threads' TLBs. With `imageVm`,
   * lets a store rewrite only the pieces that changed, and of those only the parts written since it
   * last took them. Any VM's access may change a thread's TLBs, so this piece changes with them.
   */
  imageFrames(): Image<Omit<HostMemorySnapshot, "vms">> {
    return {
      ...this.imageFrameMap(),
      threadTlbs: this.threads().map((thread) => ({ thread, tlb: this.imageThreadTlb(thread) })),
    };
  }

  /**
   * The host-wide state without the threads' TLBs, which `imageThreadTlb` gives one by one: a store
   * that keeps each thread's apart writes for a new VM's threads what they hold, not a list of all.
   */
  imageFrameMap(): Image<Omit<HostMemorySnapshot, "vms" | "threadTlbs">> {
    return { version: 3, hostBytes: this.hostBytes, frames: this.frames.image(), tlb: this.tlbConfig };
  }

  /** The hardware threads that have TLBs, in order. */
  threads(): number[] {
    return [...this.threadTlbs.keys()].sort((a, b) => a - b);
  }

  imageThreadTlb(thread: number): Image<TlbSnapshot> {
    const tlb = this.threadTlbs.get(thread);
    if (!tlb) throw new RangeError(`thread ${thread} has no TLBs`);
    return tlb.image();
  }

  /** Whether the thread's TLBs hold what a store last wrote of their image (Tlb.unchangedFrom). */
  threadTlbUnchangedFrom(thread: number, entriesBytes: number, fifo: Uint8Array, state: Uint8Array): boolean {
    const tlb = this.threadTlbs.get(thread);
    if (!tlb) throw new RangeError(`thread ${thread} has no TLBs`);
    return tlb.unchangedFrom(entriesBytes, fifo, state);
  }

  imageVm(vmId: string): Image<HostMemorySnapshot["vms"][number]> {
    return { vmId, vm: imageVm(this.get(vmId)) };
  }

  static restore(s: HostMemorySnapshot): HostMemory {
    if (s.version !== 1 && s.version !== 2 && s.version !== 3)
      throw new RangeError(`unknown host memory snapshot version ${s.version}`);
    const h = new HostMemory(s.hostBytes, s.tlb ?? DEFAULT_TLB);
    h.frames = FrameAllocator.restore(s.frames);
    for (const { thread, tlb } of s.threadTlbs ?? []) h.threadTlb(thread).load(tlb);
    for (const { vmId, vm } of s.vms) {
      h.vms.set(vmId, restoreVm(h.frames, vm, h.threadTlb));
      h.owners.set(vm.owner, vmId);
    }
    return h;
  }

  private get(vmId: string): VmMemory {
    const vm = this.vms.get(vmId);
    if (!vm) throw new UnknownVmError(`vm ${vmId} has no memory on this host`);
    return vm;
  }

  private vcpu(vm: VmMemory, vcpu: number): number {
    if (!Number.isInteger(vcpu) || vcpu < 0 || vcpu >= vm.opts.vcpus) {
      throw new RangeError(`vcpu must be 0..${vm.opts.vcpus - 1}`);
    }
    return vcpu;
  }
}

function checkAsid(asid: number): number {
  if (!Number.isInteger(asid) || asid < 0 || asid > MAX_ASID)
    throw new RangeError(`asid must be 0..${MAX_ASID}`);
  return asid;
}

/**
 * Canonical check and reduction to the low `12 + 9 * levels` bits, so the upper (kernel)
 * half maps to the top of the radix. Addresses past 2^53 cannot be carried as numbers.
 */
export function toGva(gva: number | bigint, levels: number): number {
  const bits = 12 + 9 * levels;
  let v: bigint;
  if (typeof gva === "bigint") v = gva;
  else {
    if (!Number.isSafeInteger(gva))
      throw new RangeError("gva must be a safe integer (use a bigint beyond 2^53)");
    v = BigInt(gva);
  }
  const half = 1n << BigInt(bits - 1);
  const canonical =
    (v >= 0n && v < half) || (v < 0n && v >= -half) || (v >= (1n << 64n) - half && v < 1n << 64n);
  if (!canonical) throw new RangeError(`gva ${gva} is not canonical for ${levels}-level paging`);
  const reduced = ((v % (1n << BigInt(bits))) + (1n << BigInt(bits))) % (1n << BigInt(bits));
  if (reduced > BigInt(Number.MAX_SAFE_INTEGER))
    throw new RangeError(`gva ${gva} is beyond 2^53, which this model cannot carry`);
  return Number(reduced);
}
