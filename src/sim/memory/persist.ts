// A VM's memory as plain typed arrays, for Durable Object storage. The field layout is what hosts
// have stored: a change to it needs a new HostMemorySnapshot version (index.ts). A store reads it
// as an image (dirty.ts), whose page tables, frame maps and TLBs say which of their parts were written.

import { C, NCOUNTERS } from "./counters";
import { type Image, materialize } from "./dirty";
import { FrameAllocator, type FrameAllocatorSnapshot } from "./frames";
import type { ResolvedVmOptions } from "./options";
import { EPT_FORMAT, PAGING_FORMAT, RadixTable } from "./radix";
import { TablePool, type TablePoolSnapshot } from "./tables";
import type { CompactTlbSnapshot, Tlb, TlbSnapshot } from "./tlb";
import { VmMemory } from "./vm";
import { packWorkload, unpackWorkload } from "./workload";

export interface VmMemorySnapshot {
  options: ResolvedVmOptions;
  memoryBytes: number;
  owner: number;
  counters: Float64Array;
  guestAlloc: FrameAllocatorSnapshot;
  /** Guest page tables: directory and leaf pools. */
  gDir: TablePoolSnapshot;
  gLeaf: TablePoolSnapshot;
  /** EPT tables. */
  eDir: TablePoolSnapshot;
  eLeaf: TablePoolSnapshot;
  /** Shadow tables, under shadow paging. */
  sDir: TablePoolSnapshot | null;
  sLeaf: TablePoolSnapshot | null;
  eptRoot: number;
  /** [asid, guest root slot, shadow root slot] triples. */
  spaces: Int32Array;
  curAsid: Int32Array;
  /**
   * The VM's own TLBs, one per vCPU, when it has no host threads; empty when the host holds them
   * (HostMemorySnapshot.threadTlbs). Version 2 stored them compact (CompactTlbSnapshot). Version 1
   * stored a first-level TLB per vCPU in another layout (LegacyTlbSnapshot): its counters are kept
   * and its entries dropped, as a TLB may drop any entry.
   */
  tlbs: Array<TlbSnapshot | CompactTlbSnapshot | LegacyTlbSnapshot>;
  pwc: Float64Array | null;
  ntlb: Float64Array | null;
  /** The workload's tallies and dirty log (workload.ts); absent before its first sample. */
  workload?: Float64Array;
}

/** A version-1 TLB: every slot of the first level, and its hits, misses, flushes and invalidations. */
export interface LegacyTlbSnapshot {
  tag: Float64Array;
  counters: Float64Array;
}

function isLegacy(t: TlbSnapshot | CompactTlbSnapshot | LegacyTlbSnapshot): t is LegacyTlbSnapshot {
  return "counters" in t;
}

/**
 * The VM's memory live, for a store that writes only what changed: the table pools, the guest
 * frame map and the TLBs carry the marks of what was written; the rest is bounded by the VM's
 * configuration (vCPUs and cache sizes) and is small enough to compare whole.
 */
export function imageVm(vm: VmMemory): Image<VmMemorySnapshot> {
  const spaces: number[] = [];
  for (let a = 0; a < vm.spaceLimit; a++) {
    if (vm.gRoot[a] >= 0) spaces.push(a, vm.gRoot[a], vm.sRoot ? vm.sRoot[a] : -1);
  }
  return {
    options: vm.opts,
    memoryBytes: vm.memoryBytes,
    owner: vm.owner,
    counters: vm.counters,
    guestAlloc: vm.guestAlloc.image(),
    gDir: vm.gpt.dir.image(),
    gLeaf: vm.gpt.leaf.image(),
    eDir: vm.ept.dir.image(),
    eLeaf: vm.ept.leaf.image(),
    sDir: vm.spt?.dir.image() ?? null,
    sLeaf: vm.spt?.leaf.image() ?? null,
    eptRoot: vm.eptRoot,
    spaces: Int32Array.from(spaces),
    curAsid: vm.curAsid,
    tlbs: vm.ownsTlbs ? vm.tlbs.map((t) => t.image()) : [],
    pwc: vm.pwc,
    ntlb: vm.ntlb,
    ...(vm.workload ? { workload: packWorkload(vm.workload) } : {}),
  };
}

export function snapshotVm(vm: VmMemory): VmMemorySnapshot {
  return materialize<VmMemorySnapshot>(imageVm(vm));
}

/** `threadTlb` gives the host's (already restored) TLBs of a thread, for a VM pinned to host threads. */
export function restoreVm(
  host: FrameAllocator,
  s: VmMemorySnapshot,
  threadTlb: ((thread: number) => Tlb) | null = null,
): VmMemory {
  const vm = new VmMemory(host, s.owner, s.memoryBytes, s.options, true, threadTlb);
  // Counters added since the snapshot was taken start at zero.
  vm.counters = new Float64Array(NCOUNTERS);
  vm.counters.set(s.counters);
  vm.guestAlloc = FrameAllocator.restore(s.guestAlloc);
  const levels = s.options.guestLevels;
  vm.gpt = new RadixTable(levels, PAGING_FORMAT, TablePool.restore(s.gDir), TablePool.restore(s.gLeaf));
  vm.ept = new RadixTable(
    s.options.eptLevels,
    EPT_FORMAT,
    TablePool.restore(s.eDir),
    TablePool.restore(s.eLeaf),
  );
  vm.spt =
    s.sDir && s.sLeaf
      ? new RadixTable(levels, PAGING_FORMAT, TablePool.restore(s.sDir), TablePool.restore(s.sLeaf))
      : null;
  vm.eptRoot = s.eptRoot;
  for (let k = 0; k < s.spaces.length; k += 3) {
    vm.gRoot[s.spaces[k]] = s.spaces[k + 1];
    vm.spaceLimit = Math.max(vm.spaceLimit, s.spaces[k] + 1);
    if (vm.sRoot) vm.sRoot[s.spaces[k]] = s.spaces[k + 2];
  }
  vm.curAsid = s.curAsid.slice();
  s.tlbs.forEach((t, v) => {
    if (!isLegacy(t)) vm.tlbs[v].load(t);
    else {
      vm.counters[C.tlbHits] += t.counters[0];
      vm.counters[C.tlbMisses] += t.counters[1];
      vm.counters[C.tlbFlushes] += t.counters[2];
      vm.counters[C.tlbInvalidations] += t.counters[3];
    }
  });
  // A thread's lookups count for the VM resident on it.
  vm.tlbs.forEach((t, v) => {
    if (t.resident === vm.key + v) t.acct = vm.counters;
  });
  if (s.pwc) vm.pwc = s.pwc.slice();
  if (s.ntlb) vm.ntlb = s.ntlb.slice();
  if (s.workload) vm.workload = unpackWorkload(s.workload);
  return vm;
}
