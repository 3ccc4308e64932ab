import { describe, expect, it } from "vitest";
import { HostMemory, PAGE_2M, PAGE_4K } from "../../../src/sim/memory/index";

const GiB = 1024 ** 3;

describe("TLBs, faults and shadow paging", () => {
  it("keeps tagged TLB entries across an address-space switch and flushes untagged ones", () => {
    for (const tagged of [true, false]) {
      const host = new HostMemory(8 * GiB);
      host.createVm("vm", GiB, { tagged });
      host.touch("vm", 1, 0x400000, false);
      host.touch("vm", 2, 0x400000, false);
      // Back to address space 1: a MOV CR3 on the same vCPU.
      const t = host.translate("vm", 1, 0x400000);
      expect(t.tlbHit).toBe(tagged);
    }
  });

  it("invalidates stale translations when the hypervisor remaps a page (INVEPT)", () => {
    const host = new HostMemory(8 * GiB);
    host.createVm("vm", GiB);
    const before = host.touch("vm", 1, 0x400010, true).hpa as number;
    const moved = host.remap("vm", host.vm("vm").guestLeaf(1, 0x400010)?.gpa as number);
    expect(moved).not.toBeNull();
    const after = host.translate("vm", 1, 0x400010);
    expect(after.tlbHit).toBe(false);
    expect(after.hpa).not.toBe(before);
    expect(host.ownerOf(before)).toBeNull();
    expect(host.vmSummary("vm").invept).toBe(1);
  });

  it("counts guest page faults apart from EPT violations and misconfigurations", () => {
    const host = new HostMemory(8 * GiB);
    host.createVm("vm", GiB, { eptPageSize: PAGE_4K, mmioBytes: 16 * PAGE_4K });
    const r = host.touch("vm", 1, 0x400000, true);
    expect(r.guestPageFaults).toBe(1);
    // The root, three new tables and the data page are each first touched once.
    expect(r.eptViolations).toBe(5);
    const mmio = GiB + 3 * PAGE_4K;
    expect(host.touchPhysical("vm", mmio).mmio).toBe(true);
    expect(host.touchPhysical("vm", mmio).mmio).toBe(true);
    const s = host.vmSummary("vm");
    expect(s.faults.guestPageFaults).toBe(1);
    // The first MMIO access is a violation that installs the misconfigured entry; the next is the misconfiguration.
    expect(s.faults.eptViolations).toBe(6);
    expect(s.faults.eptMisconfigurations).toBe(1);
    expect(s.vmExits.total).toBe(7);
  });

  it("shows shadow paging trading walk references for VM exits on the same workload", () => {
    const run = (mode: "ept" | "shadow") => {
      const host = new HostMemory(8 * GiB);
      host.createVm("vm", 2 * GiB, { mode, eptPageSize: PAGE_4K });
      for (let p = 1; p <= 3; p++)
        for (let i = 0; i < 200; i++) host.touch("vm", p, 0x10000000 + i * PAGE_4K, i % 2 === 0);
      return host.vmSummary("vm");
    };
    const ept = run("ept");
    const shadow = run("shadow");
    expect(shadow.walks.averageReferences).toBeLessThan(ept.walks.averageReferences / 4);
    expect(shadow.vmExits.total).toBeGreaterThan(3 * ept.vmExits.total);
    expect(shadow.vmExits.pageTableWrite).toBeGreaterThan(0);
    expect(ept.vmExits.pageTableWrite).toBe(0);
  });

  it("caches the smaller of the guest and EPT leaves, so large pages help only when both are large", () => {
    const host = new HostMemory(8 * GiB);
    host.createVm("a", GiB, { guestPageSize: PAGE_2M, eptPageSize: PAGE_4K });
    host.createVm("b", GiB, { guestPageSize: PAGE_2M, eptPageSize: PAGE_2M });
    expect(host.touch("a", 1, 0x10000000, false).pageSize).toBe(PAGE_4K);
    expect(host.touch("b", 1, 0x10000000, false).pageSize).toBe(PAGE_2M);
    expect(host.vmSummary("b").hugePageShare).toBe(1);
  });

  it("gives every frame back when a VM stops", () => {
    const host = new HostMemory(8 * GiB);
    host.createVm("vm", GiB, { mode: "shadow" });
    for (let i = 0; i < 50; i++) host.touch("vm", i % 3, i * PAGE_2M, true);
    const held = host.vmSummary("vm").hostFrames;
    expect(host.destroyVm("vm").framesFreed).toBe(held);
    expect(host.hostSummary().usedFrames).toBe(0);
    expect(() => host.vmSummary("vm")).toThrow();
  });
});
