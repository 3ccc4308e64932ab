// A VM's memory as plain typed arrays, for Durable Object storage. The field layout is what hosts
// have stored: a change to it needs a new HostMemorySnapshot version (index.ts).

import { MAX_ASID } from "./constants";
import { FrameAllocator, type FrameAllocatorSnapshot } from "./frames";
import type { ResolvedVmOptions } from "./options";
import { EPT_FORMAT, PAGING_FORMAT, RadixTable } from "./radix";
import { TablePool, type TablePoolSnapshot } from "./tables";
import { Tlb, type TlbSnapshot } from "./tlb";
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
  tlbs: TlbSnapshot[];
  pwc: Float64Array | null;
  ntlb: Float64Array | null;
  /** The workload's tallies and dirty log (workload.ts); absent before its first sample. */
  workload?: Float64Array;
}

export function snapshotVm(vm: VmMemory): VmMemorySnapshot {
  const spaces: number[] = [];
  for (let a = 0; a <= MAX_ASID; a++) {
    if (vm.gRoot[a] >= 0) spaces.push(a, vm.gRoot[a], vm.sRoot ? vm.sRoot[a] : -1);
  }
  return {
    options: vm.opts,
    memoryBytes: vm.memoryBytes,
    owner: vm.owner,
    counters: vm.counters.slice(),
    guestAlloc: vm.guestAlloc.snapshot(),
    gDir: vm.gpt.dir.snapshot(),
    gLeaf: vm.gpt.leaf.snapshot(),
    eDir: vm.ept.dir.snapshot(),
    eLeaf: vm.ept.leaf.snapshot(),
    sDir: vm.spt?.dir.snapshot() ?? null,
    sLeaf: vm.spt?.leaf.snapshot() ?? null,
    eptRoot: vm.eptRoot,
    spaces: Int32Array.from(spaces),
    curAsid: vm.curAsid.slice(),
    tlbs: vm.tlbs.map((t) => t.snapshot()),
    pwc: vm.pwc?.slice() ?? null,
    ntlb: vm.ntlb?.slice() ?? null,
    ...(vm.workload ? { workload: packWorkload(vm.workload) } : {}),
  };
}

export function restoreVm(host: FrameAllocator, s: VmMemorySnapshot): VmMemory {
  const vm = new VmMemory(host, s.owner, s.memoryBytes, s.options, true);
  // Counters added since the snapshot was taken start at zero.
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
    if (vm.sRoot) vm.sRoot[s.spaces[k]] = s.spaces[k + 2];
  }
  vm.curAsid = s.curAsid.slice();
  vm.tlbs = s.tlbs.map((t) => Tlb.restore(s.options.tlb, t));
  if (s.pwc) vm.pwc = s.pwc.slice();
  if (s.ntlb) vm.ntlb = s.ntlb.slice();
  if (s.workload) vm.workload = unpackWorkload(s.workload);
  return vm;
}
