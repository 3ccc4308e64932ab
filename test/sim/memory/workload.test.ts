// A guest's workload played on its memory by sample (memory/workload.ts): what a sample does to the tables,
// what it counts per event against the walk's definition (Bhargava et al., ASPLOS 2008), the dirty log, and
// how far larger pages reach.
import { describe, expect, it } from "vitest";
import { Rng } from "../../../src/sim/cpu/rng";
import { C } from "../../../src/sim/memory/counters";
import {
  bootWorkload,
  eptViolationsPerNewPage,
  HostMemory,
  nestedRefsPerMiss,
  PAGE_2M,
  PAGE_4K,
  sampleWorkload,
  tlbMissShare,
  type VmMemoryOptions,
  type WorkloadDemand,
} from "../../../src/sim/memory/index";
import { SAMPLE_MISSES, SAMPLE_NEW_PAGES, SAMPLE_PT_UPDATES } from "../../../src/sim/memory/workload";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** A five-minute stretch of a busy guest: many more events than one sample plays. */
const BUSY: WorkloadDemand = {
  seconds: 300,
  misses: 6e7,
  newPages: 1.2e5,
  ptUpdates: 5e5,
  writeShare: 0.3,
};

function booted(options: VmMemoryOptions, seed = 1) {
  const host = new HostMemory(64 * GiB);
  host.createVm("i-0", 4 * GiB, { vcpus: 2, ...options });
  const vm = host.vm("i-0");
  const rng = new Rng(seed);
  const random = () => rng.next();
  bootWorkload(vm, BUSY.writeShare, random);
  return { host, vm, random };
}

/** References of a walk with no page-walk caches: (n+1)(m+1) − 1, of which the guest's own tables make n. */
const nestedOf = (guestLevels: number, eptLevels: number) =>
  (guestLevels + 1) * (eptLevels + 1) - 1 - guestLevels;

describe("a workload played on a VM's memory by sample", () => {
  it("moves the memory map: pages touched, faults taken, TLB misses walked, all without a translate", () => {
    const { host, vm, random } = booted({ guestPageSize: PAGE_4K, eptPageSize: PAGE_4K });
    const before = host.vmSummary("i-0");
    sampleWorkload(vm, BUSY, random);
    const after = host.vmSummary("i-0");
    expect(after.touchedBytes).toBeGreaterThan(before.touchedBytes);
    expect(after.faults.guestPageFaults).toBeGreaterThan(before.faults.guestPageFaults);
    expect(after.faults.eptViolations).toBeGreaterThan(before.faults.eptViolations);
    expect(after.tlb.misses).toBeGreaterThan(before.tlb.misses);
    expect(after.walks.count).toBeGreaterThan(before.walks.count);
    // The boot played one of each kind standing for nothing; the sample stands for the busy five minutes.
    expect(after.workload.samples).toBe(2);
    expect(after.workload.seconds).toBe(300);
    expect(after.workload.sampledEvents).toBe(2 * (SAMPLE_MISSES + SAMPLE_NEW_PAGES + SAMPLE_PT_UPDATES));
    expect(after.workload.representedEvents).toBe(BUSY.misses + BUSY.newPages + BUSY.ptUpdates);
  });

  it("counts the nested references of each sampled miss as the walk's definition does, for 4+4, 5+5 and 2 MiB leaves", () => {
    for (const [options, nested] of [
      [{ guestPageSize: PAGE_4K, eptPageSize: PAGE_4K }, nestedOf(4, 4)],
      [{ guestLevels: 5, eptLevels: 5, guestPageSize: PAGE_4K, eptPageSize: PAGE_4K }, nestedOf(5, 5)],
      [{ guestPageSize: PAGE_2M, eptPageSize: PAGE_2M }, nestedOf(3, 3)],
    ] as const) {
      const { vm, random } = booted(options);
      for (let i = 0; i < 5; i++) sampleWorkload(vm, BUSY, random);
      expect(nestedRefsPerMiss(vm)).toBe(nested);
    }
  });

  it("takes an EPT violation on every first touch backed by 4 KiB pages, and almost none inside 2 MiB ones", () => {
    const small = booted({ guestPageSize: PAGE_4K, eptPageSize: PAGE_4K });
    const large = booted({ guestPageSize: PAGE_2M, eptPageSize: PAGE_2M });
    for (let i = 0; i < 20; i++) {
      sampleWorkload(small.vm, BUSY, small.random);
      sampleWorkload(large.vm, BUSY, large.random);
    }
    // Each new 4 KiB frame needs backing of its own; now and then a new guest table adds one more.
    expect(eptViolationsPerNewPage(small.vm)).toBeGreaterThanOrEqual(1);
    expect(eptViolationsPerNewPage(small.vm)).toBeLessThan(1.1);
    // The booted 2 MiB page holds the first 512 pages of the heap, so 42 first touches need no backing.
    expect(eptViolationsPerNewPage(large.vm)).toBe(0);
  });

  it("keeps every first touch on a frame the guest never used, however many page-table updates came between", () => {
    const { host, vm, random } = booted({ guestPageSize: PAGE_4K, eptPageSize: PAGE_4K });
    const updates = { ...BUSY, misses: 0, newPages: 0 };
    for (let i = 0; i < 30; i++) {
      sampleWorkload(vm, updates, random);
      sampleWorkload(vm, { ...BUSY, misses: 0, ptUpdates: 0 }, random);
    }
    const writes = vm.counters[C.ptWrites];
    const s = host.vmSummary("i-0");
    // Each update rewrote an entry in place (a page-table write and a shootdown), and gave no frame back:
    // every page the heap was given is still mapped, the booted one and two per sample that touched.
    expect(writes).toBeGreaterThan(30 * SAMPLE_PT_UPDATES);
    expect(s.tlb.invalidations).toBeGreaterThan(0);
    expect(s.guestLeaves["4k"]).toBe(1 + SAMPLE_NEW_PAGES * 31);
    expect(eptViolationsPerNewPage(vm)).toBeGreaterThanOrEqual(1);
  });

  it("logs the guest frames its stores dirty, each once, and starts the log afresh when it is taken", () => {
    const { host, vm, random } = booted({ guestPageSize: PAGE_4K, eptPageSize: PAGE_4K });
    host.takeDirtyLog("i-0");
    const storing = { ...BUSY, newPages: 0, ptUpdates: 0, writeShare: 1 };
    for (let i = 0; i < 4; i++) sampleWorkload(vm, storing, random);
    const dirty = host.takeDirtyLog("i-0");
    expect(dirty.length).toBeGreaterThan(0);
    expect(new Set(dirty).size).toBe(dirty.length);
    for (const gfn of dirty) expect(gfn).toBeLessThan(vm.memoryBytes / PAGE_4K);
    expect(host.vmSummary("i-0").workload.dirtyPages).toBe(0);
    // A workload that only loads dirties nothing.
    sampleWorkload(vm, { ...storing, writeShare: 0 }, random);
    expect(host.takeDirtyLog("i-0")).toEqual([]);
  });

  it("keeps its tallies and its dirty log through a snapshot, and samples on from them as if never stored", () => {
    const straight = booted({ guestPageSize: PAGE_4K, eptPageSize: PAGE_4K }, 9);
    const stored = booted({ guestPageSize: PAGE_4K, eptPageSize: PAGE_4K }, 9);
    for (const run of [straight, stored])
      for (let i = 0; i < 3; i++) sampleWorkload(run.vm, BUSY, run.random);
    const restored = HostMemory.restore(stored.host.snapshot());
    expect(restored.vmSummary("i-0")).toEqual(straight.host.vmSummary("i-0"));
    sampleWorkload(straight.vm, BUSY, straight.random);
    sampleWorkload(restored.vm("i-0"), BUSY, stored.random);
    expect(restored.vmSummary("i-0")).toEqual(straight.host.vmSummary("i-0"));
    expect(restored.takeDirtyLog("i-0")).toEqual(straight.host.takeDirtyLog("i-0"));
  });

  it("leaves fewer misses at 2 MiB pages the more of the working set their reach covers", () => {
    const { vm } = booted({ guestPageSize: PAGE_2M, eptPageSize: PAGE_2M });
    const small = booted({ guestPageSize: PAGE_4K, eptPageSize: PAGE_4K }).vm;
    // At 4 KiB pages the workload's misses are what it says they are.
    expect(tlbMissShare(small, 64 * GiB)).toBe(1);
    const shares = [256 * MiB, 2 * GiB, 8 * GiB, 64 * GiB, 1024 * GiB].map((ws) => tlbMissShare(vm, ws));
    // A working set within the 2 MiB pages' reach (over 3 GiB with the second-level TLB) misses no more.
    expect(shares[0]).toBe(0);
    expect(shares[1]).toBe(0);
    for (let i = 2; i < shares.length; i++) {
      expect(shares[i]).toBeGreaterThan(shares[i - 1]);
      expect(shares[i]).toBeLessThan(1);
    }
    expect(shares[4]).toBeGreaterThan(0.99);
  });
});

describe("a sampled miss", () => {
  it("walks on the vCPU's thread TLB and fills it under the VM's VPID and PCID, counted as a miss", () => {
    const { vm } = booted({ eptPageSize: PAGE_4K });
    const gva = 0x5a5a_0000_0000;
    // A touch maps the page (and leaves it in vCPU 0's TLB); vCPU 1's walk then finds it.
    vm.touch(0, 1, gva, true);
    const misses = vm.counters[C.tlbMisses];
    const hits = vm.counters[C.tlbHits];
    const walks = vm.counters[C.walks];
    const hpa = vm.walkMiss(1, 1, gva, false);
    expect(hpa).toBeGreaterThanOrEqual(0);
    expect(vm.counters[C.walks]).toBe(walks + 1);
    expect(vm.counters[C.tlbMisses]).toBe(misses + 1);
    // The entry the walk left answers vCPU 1's next access in the same context.
    expect(vm.access(1, 1, gva, false)).toBe(hpa);
    expect(vm.counters[C.tlbHits]).toBeGreaterThan(hits);
  });
});
