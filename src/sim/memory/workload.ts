// A guest's workload played on its memory, by sample. The CPU model's workload says how many TLB misses,
// first touches of new pages, page-table updates and stores a guest makes; a few of each (at most
// SAMPLE_* per sample, drawn with the guest's seeded PRNG over its working set) go through this VM's
// tables as the hardware and the guest kernel would take them, and the model counts what they did. One
// sampled event stands for (the workload's events since the last sample) ÷ (events sampled): the tallies
// keep both, and the CPU model prices each of the workload's events at what the sampled ones counted.

import { PAGE_1G, PAGE_2M, PAGE_4K, type PageSize } from "./constants";
import { C } from "./counters";
import { rewriteGuestLeaf } from "./guest-os";
import type { VmMemory } from "./vm";

/** The guest process the workload runs in: the API's default address space, so its pages can be looked at. */
export const WORKLOAD_ASID = 1;
/** Where the workload's heap starts: the brk area of a position-independent binary on x86-64 Linux. */
export const HEAP_BASE = 0x5600_0000_0000;

/** The most events of each kind one sample plays: enough to count walks and faults, few enough to be cheap. */
export const SAMPLE_MISSES = 4;
export const SAMPLE_NEW_PAGES = 2;
export const SAMPLE_PT_UPDATES = 1;
/** Frames kept free, in the guest and on the host, for the tables a first touch may need. */
const RESERVE_FRAMES = 1024;

/**
 * Entries of Skylake-SP's shared second-level TLB, for 4 KiB and 2 MiB pages alike (REFERENCES.md; AnandTech,
 * "The Intel Skylake-X Review", 2017, cache table): the last level a miss passes before the walker.
 */
export const STLB_ENTRIES = 1536;

/** The workload's events that one sample stands for: those since the previous sample. */
export interface WorkloadDemand {
  seconds: number;
  /** TLB misses, at the page size the TLB caches for this VM (see `tlbMissShare`). */
  misses: number;
  /** First touches of 4 KiB pages the guest had never used. */
  newPages: number;
  /** Page-table updates besides the ones first touches make (mmap, munmap, fork). */
  ptUpdates: number;
  /** Share of accesses that store. */
  writeShare: number;
}

// Slots of the tallies, which snapshots store in this order: a new tally takes the next free slot.
const T = {
  samples: 0,
  /** Heap pages the samples have first-touched, the page mapped at boot included. */
  frontier: 1,
  seconds: 2,
  /** The workload's TLB misses the samples stood for, those sampled, and what the sampled ones counted. */
  misses: 3,
  sampledMisses: 4,
  missWalks: 5,
  missNestedRefs: 6,
  /** The same for first touches. */
  newPages: 7,
  sampledNewPages: 8,
  newPageViolations: 9,
  newPageGuestFaults: 10,
  newPageExits: 11,
  /** The same for page-table updates. */
  ptUpdates: 12,
  sampledPtUpdates: 13,
  ptWrites: 14,
  ptExits: 15,
  /** Sampled accesses that stored. */
  stores: 16,
} as const;
const NTALLY = 17;

/** The workload's trace in one VM's memory: its tallies and a dirty log of the guest frames it stored to. */
export class WorkloadImage {
  readonly tally = new Float64Array(NTALLY);
  /**
   * Guest frame numbers the sampled stores wrote since the log was last taken (KVM_GET_DIRTY_LOG's role,
   * for live migration). Like every count here it holds the sample, not the workload's every store.
   */
  readonly dirty = new Set<number>();
}

/** The image as one array for a snapshot: the tallies, then (unless left out) the dirty log. */
export function packWorkload(w: WorkloadImage, dirtyLog = true): Float64Array {
  const out = new Float64Array(NTALLY + (dirtyLog ? w.dirty.size : 0));
  out.set(w.tally);
  let i = NTALLY;
  if (dirtyLog) for (const gfn of w.dirty) out[i++] = gfn;
  return out;
}

export function unpackWorkload(a: Float64Array): WorkloadImage {
  const w = new WorkloadImage();
  w.tally.set(a.subarray(0, Math.min(NTALLY, a.length)));
  for (let i = NTALLY; i < a.length; i++) w.dirty.add(a[i]);
  return w;
}

export function workloadSamples(vm: VmMemory): number {
  return vm.workload?.tally[T.samples] ?? 0;
}

/**
 * The largest page the TLB caches for this VM: the smaller of the guest's and the EPT's largest leaves
 * (a smaller leaf may still be used where no large block was free).
 */
function cachedPageSize(vm: VmMemory): PageSize {
  return Math.min(vm.opts.guestPageSize, vm.opts.eptPageSize) as PageSize;
}

/** Bytes the TLB hierarchy maps with pages of `size`: the VM's first-level arrays and the shared STLB. */
function tlbReach(vm: VmMemory, size: PageSize): number {
  const t = vm.opts.tlb;
  const first = size === PAGE_4K ? t["4k"].entries : size === PAGE_2M ? t["2m"].entries : t["1g"].entries;
  return (first + (size === PAGE_1G ? 0 : STLB_ENTRIES)) * size;
}

/**
 * The workload's TLB misses at this VM's page size, as a share of those it would take with 4 KiB pages.
 * Accesses spread evenly over a working set of `workingSetBytes` miss in proportion to the part of it the
 * TLB cannot reach, so larger pages cut misses by how much more of the working set they reach.
 */
export function tlbMissShare(vm: VmMemory, workingSetBytes: number): number {
  const size = cachedPageSize(vm);
  if (size === PAGE_4K || !(workingSetBytes > 0)) return 1;
  const beyond = (s: PageSize) => Math.max(0, 1 - tlbReach(vm, s) / workingSetBytes);
  const small = beyond(PAGE_4K);
  return small > 0 ? beyond(size) / small : 1;
}

/** Nested references per TLB miss: what the sampled misses' walks made beyond the guest's own tables. */
export function nestedRefsPerMiss(vm: VmMemory): number {
  const t = vm.workload?.tally;
  return t && t[T.missWalks] > 0 ? t[T.missNestedRefs] / t[T.missWalks] : 0;
}

/** EPT violations per first touch of a 4 KiB page, as the sampled first touches took them. */
export function eptViolationsPerNewPage(vm: VmMemory): number {
  const t = vm.workload?.tally;
  return t && t[T.sampledNewPages] > 0 ? t[T.newPageViolations] / t[T.sampledNewPages] : 0;
}

/** Guest page-table writes per page-table update, as the sampled updates made them. */
export function ptWritesPerUpdate(vm: VmMemory): number {
  const t = vm.workload?.tally;
  return t && t[T.sampledPtUpdates] > 0 ? t[T.ptWrites] / t[T.sampledPtUpdates] : 0;
}

export interface WorkloadSummary {
  samples: number;
  /** Simulated seconds of the workload the samples stand for. */
  seconds: number;
  /** Events played on the tables (TLB misses, first touches, page-table updates). */
  sampledEvents: number;
  /** The workload's events they stand for: every count of the sample, scaled up by this over `sampledEvents`. */
  representedEvents: number;
  /** Guest frames in the dirty log. */
  dirtyPages: number;
}

export function workloadSummary(vm: VmMemory): WorkloadSummary {
  const w = vm.workload;
  if (!w) return { samples: 0, seconds: 0, sampledEvents: 0, representedEvents: 0, dirtyPages: 0 };
  const t = w.tally;
  return {
    samples: t[T.samples],
    seconds: t[T.seconds],
    sampledEvents: t[T.sampledMisses] + t[T.sampledNewPages] + t[T.sampledPtUpdates],
    representedEvents: t[T.misses] + t[T.newPages] + t[T.ptUpdates],
    dirtyPages: w.dirty.size,
  };
}

/** The dirty log's guest frame numbers, ascending; the log starts again empty. */
export function takeDirtyLog(vm: VmMemory): number[] {
  const w = vm.workload;
  if (!w) return [];
  const gfns = [...w.dirty].sort((a, b) => a - b);
  w.dirty.clear();
  return gfns;
}

const heapGva = (page: number): number => HEAP_BASE + page * PAGE_4K;

/** Logs a store to the guest frame at `gpa`, or at gva's when the walk did not say (shadow walks do not). */
function logStore(vm: VmMemory, w: WorkloadImage, gva: number, gpa: number | null): void {
  const at = gpa !== null && gpa >= 0 ? gpa : (vm.guestLeaf(WORKLOAD_ASID, gva)?.gpa ?? -1);
  if (at >= 0) w.dirty.add(Math.floor(at / PAGE_4K));
}

/** Room for another first touch: guest frames to map it and host frames to back it and its tables. */
function hasRoom(vm: VmMemory): boolean {
  return vm.guestAlloc.freeFrames > RESERVE_FRAMES && vm.host.freeFrames > RESERVE_FRAMES;
}

/** How many of each kind of event one sample plays. */
interface Play {
  misses: number;
  newPages: number;
  ptUpdates: number;
}

/**
 * Plays `n` events on the VM's memory with `random` (uniform in [0, 1)): first touches at the end of the
 * workload's heap, TLB misses on pages drawn evenly over the heap (its working set in this image), a
 * `writeShare` of them stores, and page-table updates as rewrites of heap pages' entries (mprotect, fork).
 * Nothing gives a frame back to the guest, so each first touch is of a guest frame never used before, as
 * the workload's new pages are. The tallies add what they counted.
 */
function play(vm: VmMemory, w: WorkloadImage, n: Play, writeShare: number, random: () => number): Play {
  const t = w.tally;
  const c = vm.counters;
  const vcpus = vm.opts.vcpus;
  const asid = WORKLOAD_ASID;
  t[T.samples]++;
  const done: Play = { misses: 0, newPages: 0, ptUpdates: 0 };

  if (n.newPages > 0) {
    const violations = c[C.eptViolations];
    const faults = c[C.guestPageFaults];
    const exits = c[C.exits];
    for (; done.newPages < n.newPages && hasRoom(vm); done.newPages++) {
      const gva = heapGva(t[T.frontier]++);
      logStore(vm, w, gva, vm.touch(Math.floor(random() * vcpus), asid, gva, true).gpa);
    }
    t[T.sampledNewPages] += done.newPages;
    t[T.newPageViolations] += c[C.eptViolations] - violations;
    t[T.newPageGuestFaults] += c[C.guestPageFaults] - faults;
    t[T.newPageExits] += c[C.exits] - exits;
  }

  const pages = t[T.frontier];
  if (n.misses > 0 && pages > 0) {
    for (let i = 0; i < n.misses; i++) {
      const gva = heapGva(Math.floor(random() * pages));
      const vcpu = Math.floor(random() * vcpus);
      const store = random() < writeShare;
      const walks = c[C.walks];
      const nested = c[C.nestedRefs];
      let gpa: number | null;
      if (vm.walkMiss(vcpu, asid, gva, store) >= 0) {
        t[T.missWalks] += c[C.walks] - walks;
        t[T.missNestedRefs] += c[C.nestedRefs] - nested;
        gpa = vm.shadow ? null : vm.lastGpa;
      } else {
        // A page the walk could not translate (a user's unmap, a remap): fault handling brings it back.
        gpa = vm.touch(vcpu, asid, gva, store).gpa;
      }
      if (store) {
        t[T.stores]++;
        logStore(vm, w, gva, gpa);
      }
    }
    t[T.sampledMisses] += n.misses;
    done.misses = n.misses;
  }

  if (n.ptUpdates > 0 && pages > 1) {
    const writes = c[C.ptWrites];
    const exits = c[C.exits];
    for (let i = 0; i < n.ptUpdates; i++) {
      rewriteGuestLeaf(vm, asid, heapGva(1 + Math.floor(random() * (pages - 1))));
    }
    t[T.sampledPtUpdates] += n.ptUpdates;
    t[T.ptWrites] += c[C.ptWrites] - writes;
    t[T.ptExits] += c[C.exits] - exits;
    done.ptUpdates = n.ptUpdates;
  }
  return done;
}

/**
 * Boots the guest for its workload: the workload's process exists and the first page of its heap is
 * mapped, so its tables are not charged to later first touches as if each had to build them. Then one
 * sample of each kind of event, standing for none of the workload's yet, so that its events are priced
 * from the first second on. Does nothing to a VM that has booted already.
 */
export function bootWorkload(vm: VmMemory, writeShare: number, random: () => number): void {
  if (vm.workload) return;
  const w = new WorkloadImage();
  vm.workload = w;
  if (!hasRoom(vm)) return;
  logStore(vm, w, HEAP_BASE, vm.touch(0, WORKLOAD_ASID, HEAP_BASE, true).gpa);
  w.tally[T.frontier] = 1;
  const n = { misses: SAMPLE_MISSES, newPages: SAMPLE_NEW_PAGES, ptUpdates: SAMPLE_PT_UPDATES };
  play(vm, w, n, writeShare, random);
}

/**
 * Plays one sample of the workload's events `d` (those since the last sample) on the VM's memory: at most
 * SAMPLE_* of each kind, so that each sampled event stands for (events of its kind) ÷ (sampled ones). The
 * tallies add what the sample counted and the events it stands for.
 */
export function sampleWorkload(vm: VmMemory, d: WorkloadDemand, random: () => number): void {
  if (!vm.workload) bootWorkload(vm, d.writeShare, random);
  const w = vm.workload as WorkloadImage;
  const t = w.tally;
  const n: Play = {
    misses: Math.min(SAMPLE_MISSES, Math.ceil(d.misses)),
    newPages: hasRoom(vm) ? Math.min(SAMPLE_NEW_PAGES, Math.ceil(d.newPages)) : 0,
    ptUpdates: Math.min(SAMPLE_PT_UPDATES, Math.ceil(d.ptUpdates)),
  };
  const done = play(vm, w, n, d.writeShare, random);
  t[T.seconds] += d.seconds;
  // Events of a kind the sample could not play (no heap yet, no room) stand for nothing counted.
  if (done.misses > 0) t[T.misses] += d.misses;
  if (done.newPages > 0) t[T.newPages] += d.newPages;
  if (done.ptUpdates > 0) t[T.ptUpdates] += d.ptUpdates;
}
