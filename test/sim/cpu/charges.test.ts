// Hypercalls another model counted (the memory model's mmu_update and mmuext_op for a PV guest) are charged
// to the CPU model, which prices them: each counts once, whatever slows the guest or however the clock moves.
import { describe, expect, it } from "vitest";
import { DEFAULT_COSTS, HostCpu } from "../../../src/sim/cpu";
import { C5_2XL, host96, pvEntryCycles } from "./fixtures";

/** PV guests whose page-table hypercalls come from a memory model, filling a small host at an overcommit ratio. */
function host(overcommitRatio = 1) {
  const h = new HostCpu(
    host96("xen", { xenGuestMode: "pv", overcommitRatio, sockets: 1, coresPerSocket: 6 }),
  );
  const guests = Math.floor(((12 - 4) * overcommitRatio) / C5_2XL.vcpus);
  for (let i = 0; i < guests; i++) h.addVm(`vm${i}`, C5_2XL, "cpu_intensive", 10 + i, { memoryModel: true });
  return h;
}

describe("hypercalls charged from the memory model", () => {
  it("leaves the page-table hypercalls to the memory model when there is one", () => {
    const h = host();
    h.advance(10_000);
    const c = h.vmCounters("vm0");
    expect(c.hypercalls.mmu_update + c.hypercalls.mmuext_op).toBe(0);
    // The same guest alone estimates them from its workload's rates.
    const alone = new HostCpu(host96("xen", { xenGuestMode: "pv" }));
    alone.addVm("vm", C5_2XL, "cpu_intensive", 10);
    alone.advance(10_000);
    expect(alone.vmCounters("vm").hypercalls.mmu_update).toBeGreaterThan(0);
  });

  it("counts each charged hypercall once, unscaled, when the guest's vCPUs get less than they want", () => {
    const h = host(3);
    h.advance(5_000);
    expect(h.vmCounters("vm0").stealPct).toBeGreaterThan(10);
    const before = h.vmCounters("vm0");
    h.chargeHypercalls("vm0", { mmu_update: 1_001, mmuext_op: 17 });
    h.advance(10_000);
    const after = h.vmCounters("vm0");
    expect(after.hypercalls.mmu_update - before.hypercalls.mmu_update).toBe(1_001);
    expect(after.hypercalls.mmuext_op - before.hypercalls.mmuext_op).toBe(17);
    // Priced as PV entries, not exits, the charged ones included.
    expect(Math.abs(after.cycles.hypervisor - pvEntryCycles(after))).toBeLessThan(1350 * 15);
  });

  it("charges them in one interval across a catch-up of hours, and keeps them through a snapshot", () => {
    const h = host();
    h.advance(5_000);
    h.chargeHypercalls("vm0", { mmu_update: 640 });
    const restored = HostCpu.restore(JSON.parse(JSON.stringify(h.snapshot({ history: "totals" }))));
    for (const cpu of [h, restored]) {
      cpu.catchUp(5_000 + 3 * 3600_000);
      const c = cpu.vmCounters("vm0");
      expect(c.hypercalls.mmu_update).toBe(640);
      expect(c.cycles.hypervisor).toBeGreaterThanOrEqual(
        640 * (DEFAULT_COSTS.pvHypercallEntry + DEFAULT_COSTS.hypercallHandler.mmu_update),
      );
    }
  });

  it("refuses a charge that is not a whole, non-negative count", () => {
    const h = host();
    expect(() => h.chargeHypercalls("vm0", { mmu_update: -1 })).toThrow(/mmu_update/);
    expect(() => h.chargeHypercalls("vm0", { mmuext_op: 0.5 })).toThrow(/mmuext_op/);
  });
});
