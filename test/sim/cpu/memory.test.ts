// One truth for walks and exits: a guest's workload drives its memory model, and the CPU model prices what
// that model counted. The walk's references follow Bhargava et al. (ASPLOS 2008): (n+1)(m+1) − 1.
import { describe, expect, it } from "vitest";
import { HostCpu, type WorkloadSpec } from "../../../src/sim/cpu";
import { MEMORY_SAMPLE_SECONDS } from "../../../src/sim/cpu/guest";
import {
  eptViolationsPerNewPage,
  HostMemory,
  nestedRefsPerMiss,
  PAGE_4K,
  type VmMemoryOptions,
} from "../../../src/sim/memory";
import { C5_2XL, host96 } from "./fixtures";

const MIB = 1024 * 1024;
const HOUR = 3_600_000;

/** Busy but never short of its vCPUs, so no count is scaled down by the scheduler. */
const HALF_BUSY: WorkloadSpec = { base: "cpu_intensive", utilization: 0.5 };

/** A Nitro host whose memory model the test holds, with one c5.2xlarge-sized guest on it. */
function hostWithMemory(options: VmMemoryOptions, workload: WorkloadSpec = HALF_BUSY, seed = 3) {
  const memory = new HostMemory(64 * 1024 * MIB);
  memory.createVm("vm", C5_2XL.memoryMiB * MIB, { vcpus: C5_2XL.vcpus, ...options });
  const cpu = new HostCpu(host96("nitro"), 0, memory);
  cpu.addVm("vm", C5_2XL, workload, seed);
  return { cpu, memory };
}

const FOUR_K = { guestPageSize: PAGE_4K, eptPageSize: PAGE_4K } as const;

describe("the workload drives the memory model, and the CPU model prices what it counted", () => {
  it("moves the VM's memory map by the workload alone: touched bytes, faults, TLB misses and walks", () => {
    const { cpu, memory } = hostWithMemory(FOUR_K);
    const booted = memory.vmSummary("vm");
    cpu.advance(HOUR);
    const after = memory.vmSummary("vm");
    for (const read of [
      (s: typeof after) => s.touchedBytes,
      (s: typeof after) => s.backedBytes,
      (s: typeof after) => s.faults.guestPageFaults,
      (s: typeof after) => s.faults.eptViolations,
      (s: typeof after) => s.tlb.misses,
      (s: typeof after) => s.walks.count,
    ]) {
      expect(read(after)).toBeGreaterThan(read(booted));
    }
    // One sample every MEMORY_SAMPLE_SECONDS of the hour, each standing for far more events than it played.
    expect(after.workload.samples - booted.workload.samples).toBe(HOUR / 1000 / MEMORY_SAMPLE_SECONDS);
    expect(after.workload.seconds).toBe(HOUR / 1000);
    expect(after.workload.representedEvents).toBeGreaterThan(1000 * after.workload.sampledEvents);
  });

  it("counts a guest's EPT violations once, in its memory model, and shows them scaled up in its CPU counters", () => {
    for (const options of [FOUR_K, { guestPageSize: PAGE_4K, eptPageSize: 2 * MIB }] as const) {
      const { cpu, memory } = hostWithMemory(options);
      cpu.advance(10 * 60_000);
      const c = cpu.vmCounters("vm");
      const perFirstTouch = eptViolationsPerNewPage(memory.vm("vm"));
      // The CPU model's first touches, each priced at what the sampled ones cost the memory model.
      const expected = c.memory.backedPages * perFirstTouch;
      expect(Math.abs(c.vmExits.ept_violation - expected)).toBeLessThanOrEqual(5 * Math.sqrt(expected) + 1);
    }
    // On 4 KiB backing every first touch exits; on 2 MiB backing the sampled ones found it in place.
    const small = hostWithMemory(FOUR_K);
    const large = hostWithMemory({ guestPageSize: PAGE_4K, eptPageSize: 2 * MIB });
    small.cpu.advance(60_000);
    large.cpu.advance(60_000);
    expect(small.cpu.vmCounters("vm").vmExits.ept_violation).toBeGreaterThan(
      100 * large.cpu.vmCounters("vm").vmExits.ept_violation,
    );
  });

  it("prices a TLB miss by the nested references its memory model walked: 5+5 levels cost 30 where 4+4 cost 20", () => {
    const four = hostWithMemory(FOUR_K);
    const five = hostWithMemory({ ...FOUR_K, guestLevels: 5, eptLevels: 5 });
    four.cpu.advance(60_000);
    five.cpu.advance(60_000);
    // (n+1)(m+1) − 1 references, of which the guest's own tables make n.
    expect(nestedRefsPerMiss(four.memory.vm("vm"))).toBe(5 * 5 - 1 - 4);
    expect(nestedRefsPerMiss(five.memory.vm("vm"))).toBe(6 * 6 - 1 - 5);
    // The same guest, the same misses: only what each walk cost differs.
    const t4 = four.cpu.vmCounters("vm").cycles.translation;
    const t5 = five.cpu.vmCounters("vm").cycles.translation;
    expect(t4).toBeGreaterThan(0);
    expect(t5 / t4).toBeCloseTo(30 / 20, 3);
  });

  it("samples a long gap's memory once, however many stretches the catch-up draws", () => {
    const { cpu, memory } = hostWithMemory(FOUR_K);
    const before = memory.vmSummary("vm").workload.samples;
    expect(cpu.catchUp(24 * HOUR).steps).toBeGreaterThan(2);
    const after = memory.vmSummary("vm").workload;
    expect(after.samples).toBe(before + 1);
    // That one sample stands for the whole day.
    expect(after.seconds).toBe(24 * 3600);
  });

  it("dirties the guest frames its stores reach, and only a storing workload's", () => {
    const stores = hostWithMemory(FOUR_K, { ...HALF_BUSY, writeShare: 1 });
    const loads = hostWithMemory(FOUR_K, {
      ...HALF_BUSY,
      writeShare: 0,
      perBusySecond: { newPages: 0 },
    });
    for (const run of [stores, loads]) run.memory.takeDirtyLog("vm");
    stores.cpu.advance(HOUR);
    loads.cpu.advance(HOUR);
    const dirty = stores.memory.takeDirtyLog("vm");
    expect(dirty.length).toBeGreaterThan(0);
    for (const gfn of dirty) expect(gfn).toBeLessThan((C5_2XL.memoryMiB * MIB) / PAGE_4K);
    expect(loads.memory.takeDirtyLog("vm")).toEqual([]);
  });

  it("boots guests of one shape and workload to the same memory whatever their seeds, and parts them after", () => {
    const booted = [3, 4, 5, 6, 7, 8].map((seed) => hostWithMemory(FOUR_K, HALF_BUSY, seed));
    const first = booted[0].memory.vmSummary("vm");
    // The boot sample touched, walked and rewrote entries (a shootdown), and did so identically each time.
    expect(first.workload.samples).toBe(1);
    expect(first.tlb.invalidations).toBeGreaterThan(0);
    for (const { memory } of booted) expect(memory.vmSummary("vm")).toEqual(first);
    // The workloads' own samples draw from each guest's seed.
    for (const { cpu } of booted.slice(0, 2)) cpu.advance(MEMORY_SAMPLE_SECONDS * 1000);
    expect(booted[0].memory.vmSummary("vm")).not.toEqual(booted[1].memory.vmSummary("vm"));
  });

  it("marks the guests whose memory a sample or its boot changed, once each, for the host to store", () => {
    const { cpu } = hostWithMemory(FOUR_K);
    // Adding the guest booted its memory for the workload.
    expect(cpu.takeMemorySampled()).toEqual(["vm"]);
    cpu.advance(MEMORY_SAMPLE_SECONDS * 1000 - 1000);
    expect(cpu.takeMemorySampled()).toEqual([]);
    cpu.advance(MEMORY_SAMPLE_SECONDS * 1000);
    expect(cpu.takeMemorySampled()).toEqual(["vm"]);
    expect(cpu.takeMemorySampled()).toEqual([]);
  });
});
