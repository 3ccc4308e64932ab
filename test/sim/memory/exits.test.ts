import { describe, expect, it } from "vitest";
import { EXIT_REASONS, MEMORY_EXIT_REASONS, VM_EXIT_REASONS } from "../../../src/sim/exits";
import { HostMemory, PAGE_4K } from "../../../src/sim/memory/index";

const GiB = 1024 ** 3;

describe("one vocabulary of VM exits", () => {
  it("names each exit once, in snake_case, and every name is one a model produces", () => {
    expect(new Set(VM_EXIT_REASONS).size).toBe(VM_EXIT_REASONS.length);
    for (const r of VM_EXIT_REASONS) expect(r).toMatch(/^[a-z]+(_[a-z0-9]+)*$/);
    expect(new Set([...EXIT_REASONS, ...MEMORY_EXIT_REASONS])).toEqual(new Set(VM_EXIT_REASONS));
  });

  it("reports where a walk stopped with the name of the exit it takes", () => {
    const host = new HostMemory(8 * GiB);
    host.createVm("shadow", GiB, { mode: "shadow" });
    host.touch("shadow", 1, 0x400000, false);
    // The guest maps nothing at this address, but what the hardware sees is a shadow-table miss.
    const t = host.translate("shadow", 1, 0x7f0000000000);
    expect(t.fault).toBe("shadow_page_fault");
    expect(MEMORY_EXIT_REASONS).toContain(t.fault);
  });

  it("counts every memory exit under exactly one reason", () => {
    for (const mode of ["ept", "shadow"] as const) {
      const host = new HostMemory(8 * GiB);
      host.createVm("vm", GiB, { mode, eptPageSize: PAGE_4K, mmioBytes: 16 * PAGE_4K, tagged: false });
      for (let asid = 1; asid <= 2; asid++)
        for (let i = 0; i < 20; i++) host.touch("vm", asid, 0x10000000 + i * PAGE_4K, i % 2 === 0);
      expect(host.unmap("vm", 1, 0x10000000)).toBe(true);
      for (let k = 0; k < 2; k++) host.touchPhysical("vm", GiB + 3 * PAGE_4K);
      const e = host.vmSummary("vm").vmExits;
      const byReason = [
        e.eptViolation,
        e.eptMisconfiguration,
        e.pageTableWrite,
        e.shadowPageFault,
        e.guestPageFault,
        e.cr3Write,
        e.invlpg,
      ];
      expect(byReason.reduce((a, b) => a + b, 0)).toBe(e.total);
      expect(e.eptMisconfiguration).toBe(1);
      if (mode === "ept") {
        expect(e.eptViolation).toBeGreaterThan(0);
        expect(e.total).toBe(e.eptViolation + e.eptMisconfiguration);
      } else {
        // Shadow paging intercepts the guest's own paging work; there is no EPT hardware to fault.
        expect(e.eptViolation).toBe(0);
        for (const n of [e.pageTableWrite, e.shadowPageFault, e.guestPageFault, e.cr3Write, e.invlpg])
          expect(n).toBeGreaterThan(0);
      }
    }
  });
});
