// Accounting invariants of the CPU model, property-tested: entries match exits, cycles sum to capacity,
// and window queries agree with totals.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EXIT_REASONS, HostCpu, PROFILE_NAMES } from "../../../src/sim/cpu";
import { pvEntryCycles, pvRoundingSlack } from "./fixtures";

const arbHost = fc.record({
  kind: fc.constantFrom("nitro" as const, "xen" as const, "type2" as const),
  cores: fc.integer({ min: 3, max: 8 }),
  overcommit: fc.constantFrom(1, 1.5, 2, 4),
  affinity: fc.boolean(),
  sriov: fc.boolean(),
  pvDrivers: fc.boolean(),
  largePages: fc.boolean(),
  ballooning: fc.boolean(),
  mode: fc.constantFrom("pv" as const, "hvm" as const),
  dedicatedDom0: fc.boolean(),
  memoryShort: fc.boolean(),
  vms: fc.array(
    fc.record({
      vcpus: fc.integer({ min: 1, max: 4 }),
      profile: fc.constantFrom(...PROFILE_NAMES),
      seed: fc.nat(),
    }),
    { minLength: 1, maxLength: 10 },
  ),
  seconds: fc.integer({ min: 1, max: 90 }),
});

describe("the counters add up", () => {
  it("has an entry for every exit and sums every VM's and the host's cycles to capacity, whatever the host", () => {
    fc.assert(
      fc.property(arbHost, (a) => {
        const host = new HostCpu({
          kind: a.kind,
          sockets: 1,
          coresPerSocket: a.cores,
          threadsPerCore: 2,
          overcommitRatio: a.overcommit,
          memoryMiB: a.memoryShort ? 8192 : 0,
          dom0: { vcpus: 2, memoryMiB: 1024, dedicated: a.dedicatedDom0 },
          xenGuestMode: a.mode,
          optimizations: {
            cpuAffinity: a.affinity,
            sriov: a.sriov,
            pvDrivers: a.pvDrivers,
            largePages: a.largePages,
            ballooning: a.ballooning,
          },
        });
        const vcpusOf = new Map<string, number>();
        a.vms.forEach((v, i) => {
          if (host.vcpusAllocated + v.vcpus > host.vcpuLimit) return;
          vcpusOf.set(`vm-${i}`, v.vcpus);
          host.addVm(
            `vm-${i}`,
            { vcpus: v.vcpus, memoryMiB: 4096, networkGbps: 5, ebsMbps: 2000, ebsIops: 10000 },
            v.profile,
            v.seed,
          );
        });
        host.advance(a.seconds * 1000);
        for (const id of host.vmIds()) {
          const c = host.vmCounters(id);
          const y = c.cycles;
          expect(y.guest + y.hypervisor + y.steal + y.idle).toBe(y.capacity);
          expect(y.capacity).toBe((vcpusOf.get(id) ?? 0) * host.freqHz * a.seconds);
          for (const v of [
            y.guest,
            y.hypervisor,
            y.steal,
            y.idle,
            y.dom0,
            y.backend,
            y.translation,
            y.guestKernel,
          ]) {
            expect(v).toBeGreaterThanOrEqual(0);
          }
          expect(y.guestKernel).toBeLessThanOrEqual(y.guest);
          for (const r of EXIT_REASONS) expect(c.vmEntries[r]).toBe(c.vmExits[r]);
          // A PV guest enters Xen by hypercalls and traps alone: its time there is what they price, more only by
          // the rounding of counts the host slowed (an exit on any path would add 1,350 cycles and more each).
          if (c.mode === "pv") {
            const seconds = c.windowMs / 1000;
            expect(c.cycles.hypervisor).toBeLessThanOrEqual(pvEntryCycles(c) + pvRoundingSlack(c, seconds));
          }
        }
        const s = host.hostSummary();
        const h = s.cycles;
        expect(h.capacity).toBe(host.host.threads * host.freqHz * a.seconds);
        expect(h.guest + h.hypervisor + h.backend + h.dom0 + h.hostOs + h.idle).toBe(h.capacity);
        // Rounding each VM's figures may overshoot by a cycle or two; real overbooking would be far larger.
        expect(h.idle).toBeGreaterThanOrEqual(-host.vmIds().length * 4);
      }),
      { numRuns: 60 },
    );
  });

  it("sums a window's per-second records to the totals when the window covers all history", () => {
    const host = new HostCpu({ kind: "nitro", sockets: 1, coresPerSocket: 4, threadsPerCore: 2 });
    host.addVm("a", { vcpus: 2, memoryMiB: 4096, networkGbps: 1, ebsMbps: 650, ebsIops: 4000 }, "bursty", 3);
    host.advance(45_000);
    const all = host.vmCounters("a");
    const last = host.vmCounters("a", 45_000);
    const ten = host.vmCounters("a", 10_000);
    expect(last).toEqual(all);
    expect(ten.windowMs).toBe(10_000);
    expect(ten.cycles.capacity).toBe(all.cycles.capacity * (10 / 45));
    expect(ten.totalExits).toBeLessThanOrEqual(all.totalExits);
  });

  it("answers windows of minutes from the minute ring, covering what it was asked", () => {
    const host = new HostCpu({
      kind: "xen",
      sockets: 1,
      coresPerSocket: 4,
      threadsPerCore: 2,
      dom0: { vcpus: 2 },
    });
    host.addVm(
      "a",
      { vcpus: 2, memoryMiB: 4096, networkGbps: 1, ebsMbps: 650, ebsIops: 4000 },
      "io_intensive",
      3,
    );
    host.advance(3 * 3600_000 + 30_000);
    const tenMin = host.vmCounters("a", 600_000);
    expect(tenMin.windowMs).toBeGreaterThanOrEqual(600_000);
    expect(tenMin.windowMs).toBeLessThan(660_000);
    expect(tenMin.cycles.capacity).toBe((2 * host.freqHz * tenMin.windowMs) / 1000);
    const summary = host.hostSummary(120_000);
    expect(summary.cycles.capacity).toBe((8 * host.freqHz * summary.windowMs) / 1000);
  });
});
