// Building blocks of the CPU model: 2D walk references (Bhargava et al., ASPLOS 2008), seeded counts,
// PV vs HVM entries into Xen, determinism, snapshot/restore, profiles and caps.
import { describe, expect, it } from "vitest";
import { HostCpu, walkReferences } from "../../../src/sim/cpu";
import { Rng } from "../../../src/sim/cpu/rng";
import { C5_2XL, C5_LARGE, host96, pvEntryCycles } from "./fixtures";

describe("the model's building blocks", () => {
  it("counts (n+1)(m+1)−1 references for a two-dimensional walk: 24, 15 and 35, against 4 native", () => {
    expect(walkReferences(4, 4)).toBe(24);
    expect(walkReferences(3, 3)).toBe(15);
    expect(walkReferences(5, 5)).toBe(35);
    expect(walkReferences(4, 0)).toBe(4);
  });

  it("draws counts whose mean matches the rate asked for", () => {
    const rng = new Rng(9);
    for (const mean of [0.5, 5, 500]) {
      let sum = 0;
      for (let i = 0; i < 4000; i++) sum += rng.count(mean);
      expect(sum / 4000).toBeCloseTo(mean, mean < 10 ? 0 : -1);
    }
  });

  it("makes a PV guest hypercall where an HVM guest on the same Xen host takes VM exits", () => {
    const host = new HostCpu(host96("xen"));
    host.addVm("pv", C5_2XL, "cpu_intensive", 1, { mode: "pv" });
    host.addVm("hvm", C5_2XL, "cpu_intensive", 1, { mode: "hvm" });
    host.advance(10_000);
    const pv = host.vmCounters("pv");
    const hvm = host.vmCounters("hvm");
    // The PV guest's time in Xen is its hypercalls and traps, each at its price: none of it is an exit (one
    // would add over 1,350 cycles a second; the counts of I/O slowed by dom0 round a few hundred either way).
    expect(pv.cycles.hypervisor).toBeGreaterThan(0);
    expect(Math.abs(pv.cycles.hypervisor - pvEntryCycles(pv))).toBeLessThan(1350 * 10);
    expect(pv.hypercalls.set_timer_op).toBeGreaterThan(0);
    expect(hvm.vmExits.msr_write).toBeGreaterThan(0);
    expect(hvm.vmExits.cpuid).toBeGreaterThan(0);
    // HVM guests reach Xen through VMCALL for their PV drivers' event channels.
    expect(hvm.vmExits.vmcall).toBe(Object.values(hvm.hypercalls).reduce((a, b) => a + b, 0));
  });

  it("replays the same counters from the same seed and diverges with another", () => {
    const run = (seed: number) => {
      const host = new HostCpu(host96("nitro"));
      host.addVm("a", C5_LARGE, "bursty", seed);
      host.advance(120_000);
      return host.vmCounters("a");
    };
    expect(run(5)).toEqual(run(5));
    expect(run(5).cycles.guest).not.toBe(run(6).cycles.guest);
  });

  it("continues after a JSON snapshot and restore exactly as if never evicted", () => {
    const build = () => {
      const host = new HostCpu(host96("xen", { overcommitRatio: 2, memoryMiB: 65536 }));
      host.addVm("a", C5_2XL, "io_intensive", 1);
      host.addVm("b", C5_LARGE, { base: "bursty", networkLoad: 0.5 }, 2, { mode: "hvm" });
      return host;
    };
    const straight = build();
    straight.advance(150_000);

    const evicted = build();
    evicted.advance(70_000);
    const restored = HostCpu.restore(JSON.parse(JSON.stringify(evicted.snapshot())));
    expect(restored.nowMs).toBe(70_000);
    restored.advance(150_000);

    for (const id of ["a", "b"]) {
      expect(restored.vmCounters(id)).toEqual(straight.vmCounters(id));
      expect(restored.vmCounters(id, 30_000)).toEqual(straight.vmCounters(id, 30_000));
    }
    expect(restored.hostSummary()).toEqual(straight.hostSummary());
  });

  it("keeps totals exact through a lean snapshot, and refills its windows from the restore on", () => {
    const build = () => {
      const host = new HostCpu(host96("nitro"));
      host.addVm("a", C5_2XL, "bursty", 11);
      return host;
    };
    const straight = build();
    straight.advance(200_000);
    const evicted = build();
    evicted.advance(90_500);
    const lean = evicted.snapshot({ history: "totals" });
    expect(JSON.stringify(lean).length).toBeLessThan(JSON.stringify(evicted.snapshot()).length / 10);
    const restored = HostCpu.restore(JSON.parse(JSON.stringify(lean)));
    expect(restored.vmCounters("a", 20_000).windowMs).toBe(0);
    restored.advance(200_000);
    expect(restored.vmCounters("a")).toEqual(straight.vmCounters("a"));
    expect(restored.vmCounters("a", 30_000)).toEqual(straight.vmCounters("a", 30_000));
    // 110 s since the restore: the minute in progress at the restore was kept, so whole minutes answer.
    expect(restored.vmCounters("a", 100_000)).toEqual(straight.vmCounters("a", 100_000));
  });

  it("changes what a VM does when its profile is set, from the next interval on", () => {
    const host = new HostCpu(host96("nitro"));
    host.addVm("a", C5_2XL, "idle", 1);
    host.advance(10_000);
    const idle = host.vmCounters("a", 10_000);
    host.setProfile("a", "cpu_intensive");
    host.advance(20_000);
    const busy = host.vmCounters("a", 10_000);
    expect(busy.cycles.guest).toBeGreaterThan(idle.cycles.guest * 20);
  });

  it("runs only whole intervals and keeps the remainder for the next advance", () => {
    const host = new HostCpu(host96("nitro"));
    host.addVm("a", C5_LARGE, "idle", 1);
    expect(host.advance(2_500)).toBe(2);
    expect(host.advance(3_100)).toBe(1);
    expect(host.advance(1_000)).toBe(0);
    expect(host.vmCounters("a").windowMs).toBe(3_000);
  });

  it("rejects a custom workload with a utilization outside [0, 1]", () => {
    const host = new HostCpu(host96("nitro"));
    expect(() => host.addVm("a", C5_LARGE, { utilization: 1.5 }, 1)).toThrow(/utilization/);
  });

  it("throttles packets at the instance type's bandwidth", () => {
    const host = new HostCpu(host96("nitro"));
    host.addVm("a", C5_LARGE, { base: "io_intensive", networkLoad: 3, packetBytes: 1500 }, 1);
    host.advance(10_000);
    const c = host.vmCounters("a");
    expect(c.io.packetsThrottled).toBeGreaterThan(c.io.packets);
    // 0.75 Gbit/s of 1,500-byte packets is 62,500 packets per second.
    expect(c.io.packets).toBeLessThanOrEqual(62_500 * 10);
  });
});
