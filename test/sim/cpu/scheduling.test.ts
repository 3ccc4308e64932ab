// The host CPU scheduler: pinned vCPUs, Xen credit and CFS pools, steal with overcommit or a competing dom0,
// context switches per time slice (Xen credit 30 ms).
import { describe, expect, it } from "vitest";
import { CpuCapacityError, HostCpu, type HypervisorKind } from "../../../src/sim/cpu";
import {
  CfsScheduler,
  CreditScheduler,
  PinnedScheduler,
  type ScheduledVm,
  waterfill,
} from "../../../src/sim/cpu/scheduler";
import { C5_2XL, C5_LARGE } from "./fixtures";

/** An 8-thread host filled to its vCPU limit with CPU-bound c5.large guests. */
function filled(kind: HypervisorKind, overcommitRatio: number, extra: object = {}): HostCpu {
  const host = new HostCpu({
    kind,
    sockets: 1,
    coresPerSocket: 4,
    threadsPerCore: 2,
    overcommitRatio,
    ...extra,
  });
  for (let i = 0; host.vcpusAllocated + 2 <= host.vcpuLimit; i++)
    host.addVm(`vm-${i}`, C5_LARGE, "cpu_intensive", i);
  host.advance(60_000);
  return host;
}

function stealPct(host: HostCpu): number {
  const s = host.hostSummary().cycles;
  return (100 * s.steal) / (s.guest + s.hypervisor + s.steal);
}

describe("the host CPU scheduler", () => {
  it("shows no steal while every vCPU has a thread, and more steal the further vCPUs outnumber threads", () => {
    for (const kind of ["nitro", "xen"] as const) {
      const ratios = [1, 1.5, 2, 3];
      const steal = ratios.map((r) => stealPct(filled(kind, r, { dom0: { vcpus: 2 } })));
      expect(steal[0]).toBe(0);
      for (let i = 1; i < steal.length; i++) expect(steal[i]).toBeGreaterThan(steal[i - 1]);
      // Three vCPUs wanting ~95% of a thread each on one thread: about two thirds of their want is stolen.
      expect(steal[3]).toBeGreaterThan(55);
    }
  });

  it("makes guests wait for a dom0 that competes for their threads, and not for one on cores of its own", () => {
    const run = (dedicated: boolean) => {
      const host = new HostCpu({
        kind: "xen",
        sockets: 1,
        coresPerSocket: 4,
        threadsPerCore: 2,
        dom0: { vcpus: 2, dedicated },
      });
      // The same three guests either way, as many vCPUs as the pool has threads when dom0 is set apart,
      // all busy computing and pushing packets, so dom0 has netback work to do.
      const busyIo = { base: "io_intensive" as const, utilization: 0.95 };
      for (let i = 0; i < 3; i++) host.addVm(`vm-${i}`, { ...C5_2XL, vcpus: 2 }, busyIo, i);
      host.advance(30_000);
      return host.hostSummary().cycles;
    };
    expect(run(true).steal).toBe(0);
    expect(run(false).steal).toBeGreaterThan(0);
  });

  it("counts a context switch per time slice when threads are shared, and Xen's 30 ms slices make fewer", () => {
    const nitro = filled("nitro", 2).vmCounters("vm-0");
    const xen = filled("xen", 2, { dom0: { vcpus: 2 } }).vmCounters("vm-0");
    const alone = filled("nitro", 1).vmCounters("vm-0");
    expect(nitro.contextSwitches).toBeGreaterThan(alone.contextSwitches * 10);
    expect(xen.contextSwitches).toBeLessThan(nitro.contextSwitches);
    expect(xen.contextSwitches).toBeGreaterThan(0);
  });

  it("lets a Type 2 host's own OS take a share of the threads, so fully busy guests see steal at overcommit 1.0", () => {
    const host = filled("type2", 1);
    const s = host.hostSummary().cycles;
    expect(s.hostOs).toBeGreaterThan(0);
    expect(s.steal).toBeGreaterThan(0);
    expect(stealPct(filled("nitro", 1))).toBe(0);
  });

  it("refuses a VM beyond the overcommit ratio's vCPU limit", () => {
    const host = new HostCpu({ kind: "nitro", sockets: 1, coresPerSocket: 4, threadsPerCore: 2 });
    host.addVm("a", C5_2XL, "idle", 1);
    expect(() => host.addVm("b", C5_LARGE, "idle", 2)).toThrow(CpuCapacityError);
  });

  it("shares a contended thread max-min fairly: small demands are met, the rest split evenly", () => {
    const out = new Float64Array(3);
    const busy = waterfill(
      3,
      Float64Array.of(0.1, 0.9, 0.9),
      Float64Array.of(1, 1, 1),
      Float64Array.of(1, 1, 1),
      1,
      out,
    );
    expect(busy).toBe(true);
    expect(out[0]).toBeCloseTo(0.1);
    expect(out[1]).toBeCloseTo(0.45);
    expect(out[2]).toBeCloseTo(0.45);
  });

  it("gives a credit-weighted domain its share in proportion to its weight", () => {
    const out = new Float64Array(2);
    waterfill(2, Float64Array.of(1, 1), Float64Array.of(2, 1), Float64Array.of(1, 1), 1.5, out);
    expect(out[0]).toBeCloseTo(1);
    expect(out[1]).toBeCloseTo(0.5);
  });

  it("picks pinned vCPUs where affinity is set, else credit on Xen and CFS on the KVM-based kinds", () => {
    const scheduler = (kind: HypervisorKind, cpuAffinity: boolean) =>
      new HostCpu({
        kind,
        sockets: 1,
        coresPerSocket: 4,
        threadsPerCore: 2,
        dom0: { vcpus: 2 },
        optimizations: { cpuAffinity },
      }).hostSummary().features.scheduler;
    expect(scheduler("nitro", true)).toBe("pinned");
    expect(scheduler("xen", true)).toBe("pinned");
    expect(scheduler("nitro", false)).toBe("cfs");
    expect(scheduler("type2", false)).toBe("cfs");
    expect(scheduler("xen", false)).toBe("credit");
  });

  it("splits a domain's weight over its vCPUs under credit, and weighs each vCPU on its own under CFS", () => {
    // A 4-vCPU and a 1-vCPU VM, both wanting every cycle, on a pool of 2 threads' worth of cycles.
    const vms: ScheduledVm[] = [
      { caps: { vcpus: 4 }, weight: 1, threads: [0, 1, 2, 3] },
      { caps: { vcpus: 1 }, weight: 1, threads: [0] },
    ];
    const got = (scheduler: CreditScheduler | CfsScheduler) => {
      scheduler.setVms(vms);
      const round = {
        demand: Float64Array.of(4, 1),
        alloc: new Float64Array(2),
        contended: new Float64Array(2),
      };
      scheduler.share(round, 2);
      return Array.from(round.alloc);
    };
    const [bigCredit, smallCredit] = got(new CreditScheduler(4));
    expect(bigCredit).toBeCloseTo(1);
    expect(smallCredit).toBeCloseTo(1);
    const [bigCfs, smallCfs] = got(new CfsScheduler(4));
    expect(bigCfs).toBeCloseTo(1.6);
    expect(smallCfs).toBeCloseTo(0.4);
  });

  it("shares only the threads that overcommit shares when vCPUs are pinned, and never migrates them", () => {
    const scheduler = new PinnedScheduler(2, 2);
    // Two VMs share thread 0; a third has thread 1 to itself.
    scheduler.setVms([
      { caps: { vcpus: 1 }, weight: 1, threads: [0] },
      { caps: { vcpus: 1 }, weight: 1, threads: [0] },
      { caps: { vcpus: 1 }, weight: 1, threads: [1] },
    ]);
    const round = {
      demand: Float64Array.of(0.8, 0.8, 0.8),
      alloc: new Float64Array(3),
      contended: new Float64Array(3),
    };
    scheduler.share(round, 2);
    expect(Array.from(round.alloc)).toEqual([0.5, 0.5, 0.8]);
    expect(Array.from(round.contended)).toEqual([0.5, 0.5, 0]);
    expect(scheduler.migrations()).toBe(0);
    expect(new CfsScheduler(8).migrations(100)).toBeGreaterThan(0);
  });
});
