// Catching up a long gap at a bounded cost: how many steps it computes, the counters' invariants after it,
// its totals against a second-by-second run, and the burst chain and counter history it rests on.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  EXIT_REASONS,
  HostCpu,
  type HostDescription,
  type InstanceCaps,
  PROFILE_NAMES,
  PROFILES,
  type ProfileName,
} from "../../../src/sim/cpu";
import { CATCH_UP_MAX_STEPS, catchUpPlan } from "../../../src/sim/cpu/catch-up";
import { CounterHistory } from "../../../src/sim/cpu/counters";
import { Rng } from "../../../src/sim/cpu/rng";
import { runBurstChain, sampleActivity, sampleStretchActivity } from "../../../src/sim/cpu/workload";
import { C5_LARGE, pvEntryCycles, pvRoundingSlack } from "./fixtures";

const MINUTE = 60_000;
/** The tests that step whole hosts for simulated hours: seconds of CPU on a shared machine. */
const SLOW_MS = 60_000;
const HOUR = 3_600_000;
const CAPS: InstanceCaps = { vcpus: 2, memoryMiB: 4096, networkGbps: 5, ebsMbps: 2000, ebsIops: 10000 };

/** The host of the report: 8 sockets × 128 cores, 1,000 I/O-bound two-vCPU guests. */
function thousandVmHost(): HostCpu {
  const host = new HostCpu({ kind: "nitro", sockets: 8, coresPerSocket: 128, threadsPerCore: 2 });
  for (let i = 0; i < 1000; i++) host.addVm(`vm-${i}`, C5_LARGE, "io_intensive", i + 1);
  return host;
}

/** A 24-thread host filled with two-vCPU guests cycling through `profiles`. */
function filledHost(description: HostDescription, profiles: readonly ProfileName[], seed: number): HostCpu {
  const host = new HostCpu(description);
  for (let i = 0; host.vcpusAllocated + CAPS.vcpus <= host.vcpuLimit; i++) {
    host.addVm(`vm-${i}`, CAPS, profiles[i % profiles.length], seed * 1000 + i);
  }
  return host;
}

const relativeGap = (a: number, b: number): number => Math.abs(a - b) / Math.max(Math.abs(b), 1);

describe("catching up a long gap", () => {
  it(
    "computes a bounded number of steps for a 1,000-VM host, however long the gap",
    () => {
      const host = thousandVmHost();
      const steps: number[] = [];
      for (const gap of [10 * MINUTE, HOUR, 24 * HOUR, 365 * 24 * HOUR]) {
        const from = host.nowMs;
        const run = host.catchUp(from + gap);
        expect(run.intervals).toBe(gap / 1000);
        expect(host.nowMs).toBe(from + gap);
        steps.push(run.steps);
      }
      // Second by second the hour alone would be 3,600 steps of 1,000 guests each.
      for (const n of steps) expect(n).toBeLessThanOrEqual(CATCH_UP_MAX_STEPS);
      expect(steps[1]).toBeLessThan(100);
      // Beyond the hour the minute ring shows, a longer gap costs nothing more.
      expect(steps[3]).toBe(steps[2]);
      // The year is in the totals: a year of two busy vCPUs' cycles, to the cycle.
      const c = host.vmCounters("vm-0").cycles;
      const seconds = (10 * MINUTE + HOUR + 24 * HOUR + 365 * 24 * HOUR) / 1000;
      expect(c.capacity).toBe(2 * host.freqHz * seconds);
    },
    SLOW_MS,
  );

  it("plans steps that cover the gap exactly: at most 91, the last minute single, the last hour finely", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2_000_000_000 }), fc.boolean(), (gap, pending) => {
        const plan = catchUpPlan(gap, pending);
        expect(plan.reduce((a, b) => a + b, 0)).toBe(gap);
        expect(plan.length).toBeLessThanOrEqual(CATCH_UP_MAX_STEPS);
        expect(plan.every((k) => Number.isInteger(k) && k >= 1)).toBe(true);
        if (gap <= CATCH_UP_MAX_STEPS) {
          expect(plan.every((k) => k === 1)).toBe(true);
          return;
        }
        expect(plan.slice(-60).every((k) => k === 1)).toBe(true);
        if (pending) expect(plan[0]).toBe(1);
        // Walking back from the end, every step that reaches into the last hour stands for under 3 minutes.
        let fromEnd = 0;
        for (let i = plan.length - 1; i >= 0 && fromEnd < 3600; i--) {
          expect(plan[i]).toBeLessThanOrEqual(177);
          fromEnd += plan[i];
        }
      }),
    );
  });

  it("steps short gaps second by second, exactly as advance does", () => {
    const a = filledHost({ kind: "xen", sockets: 1, coresPerSocket: 6, threadsPerCore: 2 }, PROFILE_NAMES, 3);
    const b = filledHost({ kind: "xen", sockets: 1, coresPerSocket: 6, threadsPerCore: 2 }, PROFILE_NAMES, 3);
    expect(a.catchUp(CATCH_UP_MAX_STEPS * 1000)).toEqual({
      intervals: CATCH_UP_MAX_STEPS,
      steps: CATCH_UP_MAX_STEPS,
    });
    b.advance(CATCH_UP_MAX_STEPS * 1000);
    expect(a.snapshot()).toEqual(b.snapshot());
  });

  it(
    "keeps every counter invariant after any catch-up: entries for exits, cycles summing to capacity",
    () => {
      const arb = fc.record({
        kind: fc.constantFrom("nitro" as const, "xen" as const, "type2" as const),
        overcommit: fc.constantFrom(1, 2, 4),
        affinity: fc.boolean(),
        memoryShort: fc.boolean(),
        ballooning: fc.boolean(),
        largePages: fc.boolean(),
        mode: fc.constantFrom("pv" as const, "hvm" as const),
        vms: fc.array(
          fc.record({
            vcpus: fc.integer({ min: 1, max: 4 }),
            profile: fc.constantFrom(...PROFILE_NAMES),
            seed: fc.nat(),
          }),
          { minLength: 1, maxLength: 8 },
        ),
        // Gaps from a second to a day; between them a VM may leave and another come. Three days at most keep
        // the host's cycle totals below 2^53, where doubles stop counting every cycle.
        gaps: fc.array(fc.integer({ min: 1, max: 86_400 }), { minLength: 1, maxLength: 3 }),
        churn: fc.boolean(),
      });
      fc.assert(
        fc.property(arb, (a) => {
          const host = new HostCpu({
            kind: a.kind,
            sockets: 1,
            coresPerSocket: 4,
            threadsPerCore: 2,
            overcommitRatio: a.overcommit,
            memoryMiB: a.memoryShort ? 8192 : 0,
            dom0: { vcpus: 2, memoryMiB: 1024 },
            xenGuestMode: a.mode,
            optimizations: { cpuAffinity: a.affinity, ballooning: a.ballooning, largePages: a.largePages },
          });
          const added = new Map<string, { vcpus: number; at: number }>();
          const add = (id: string, v: (typeof a.vms)[number]) => {
            if (host.vcpusAllocated + v.vcpus > host.vcpuLimit) return;
            host.addVm(id, { ...CAPS, vcpus: v.vcpus }, v.profile, v.seed);
            added.set(id, { vcpus: v.vcpus, at: host.nowMs });
          };
          for (const [i, v] of a.vms.entries()) add(`vm-${i}`, v);
          a.gaps.forEach((gap, g) => {
            if (g > 0 && a.churn) {
              host.removeVm(host.vmIds()[0] ?? "");
              add(`late-${g}`, a.vms[g % a.vms.length]);
            }
            expect(host.catchUp(host.nowMs + gap * 1000).steps).toBeLessThanOrEqual(CATCH_UP_MAX_STEPS);
          });
          for (const id of host.vmIds()) {
            const { vcpus, at } = added.get(id)!;
            for (const windowMs of [undefined, 10_000, 60_000, 90_000, 10 * MINUTE, HOUR]) {
              const c = host.vmCounters(id, windowMs);
              const y = c.cycles;
              if (windowMs === undefined) expect(c.windowMs).toBe(host.nowMs - at);
              expect(y.capacity).toBe((vcpus * host.freqHz * c.windowMs) / 1000);
              expect(y.guest + y.hypervisor + y.steal + y.idle).toBe(y.capacity);
              for (const v of [y.guest, y.hypervisor, y.steal, y.idle, y.dom0, y.backend, y.translation]) {
                expect(v).toBeGreaterThanOrEqual(0);
              }
              expect(y.guestKernel).toBeLessThanOrEqual(y.guest);
              for (const r of EXIT_REASONS) expect(c.vmEntries[r]).toBe(c.vmExits[r]);
              // A PV guest enters Xen by hypercalls and traps alone: its time there is what they price, more only by
              // the rounding of counts the host slowed (an exit on any path would add 1,350 cycles and more each).
              if (c.mode === "pv") {
                const seconds = c.windowMs / 1000;
                expect(c.cycles.hypervisor).toBeLessThanOrEqual(
                  pvEntryCycles(c) + pvRoundingSlack(c, seconds),
                );
              }
              expect(c.memory.backedPages + c.memory.balloonedPages).toBeLessThanOrEqual(
                (CAPS.memoryMiB * 1024) / 4,
              );
            }
          }
          for (const windowMs of [undefined, 30_000, 10 * MINUTE]) {
            const s = host.hostSummary(windowMs);
            const h = s.cycles;
            expect(h.capacity).toBe((host.host.threads * host.freqHz * s.windowMs) / 1000);
            expect(h.guest + h.hypervisor + h.backend + h.dom0 + h.hostOs + h.idle).toBe(h.capacity);
            // Rounding each VM's share may overshoot by under a cycle per VM and second, and a stretch repeats
            // its second's; real overbooking would be billions of cycles.
            expect(h.idle).toBeGreaterThanOrEqual(-(host.vmIds().length + 2) * (s.windowMs / 1000));
          }
        }),
        { numRuns: 40 },
      );
    },
    SLOW_MS,
  );

  it("answers windows of up to a minute from single seconds: the last minute is stepped exactly", () => {
    const host = filledHost(
      { kind: "nitro", sockets: 1, coresPerSocket: 4, threadsPerCore: 2 },
      ["bursty"],
      1,
    );
    host.catchUp(HOUR);
    for (const windowMs of [1000, 10_000, 45_000, 60_000]) {
      expect(host.vmCounters("vm-0", windowMs).windowMs).toBe(windowMs);
      expect(host.hostSummary(windowMs).windowMs).toBe(windowMs);
    }
    // Just before the tail the seconds came from stretches: such a window falls back to whole minutes.
    expect(host.vmCounters("vm-0", 61_000).windowMs).toBeGreaterThanOrEqual(61_000);
  });

  it(
    "agrees with a second-by-second run over an hour of steady load: hosts within 3%, guests within 12%",
    () => {
      // The spread comes from each stretch standing on one drawn second: its counts and burst state stand
      // for the whole stretch. Its jitter is the stretch's average (10% for io_intensive over one second,
      // under 1% over a 177 s stretch), and a host sums many guests, so hosts agree more closely.
      const hosts: HostDescription[] = [
        { kind: "nitro", sockets: 1, coresPerSocket: 12, threadsPerCore: 2 },
        {
          kind: "xen",
          sockets: 1,
          coresPerSocket: 12,
          threadsPerCore: 2,
          dom0: { vcpus: 4 },
          xenGuestMode: "hvm",
        },
        { kind: "type2", sockets: 1, coresPerSocket: 12, threadsPerCore: 2 },
        // Contended: pooled vCPUs at twice the threads, so steal is in play.
        {
          kind: "xen",
          sockets: 1,
          coresPerSocket: 12,
          threadsPerCore: 2,
          overcommitRatio: 2,
          dom0: { vcpus: 4 },
          optimizations: { cpuAffinity: false },
        },
      ];
      const steady: ProfileName[] = ["cpu_intensive", "memory_intensive", "io_intensive"];
      for (const [n, description] of hosts.entries()) {
        const caught = filledHost(description, steady, n + 1);
        const stepped = filledHost(description, steady, n + 1);
        expect(caught.catchUp(HOUR).steps).toBeLessThan(100);
        stepped.advance(HOUR);
        const a = caught.hostSummary();
        const b = stepped.hostSummary();
        expect(a.cycles.capacity).toBe(b.cycles.capacity);
        for (const k of ["guest", "hypervisor", "dom0", "backend", "steal", "hostOs", "idle"] as const) {
          if (b.cycles[k] > b.cycles.capacity * 0.001)
            expect(relativeGap(a.cycles[k], b.cycles[k])).toBeLessThan(0.03);
        }
        expect(relativeGap(a.offload.network.total, b.offload.network.total)).toBeLessThan(0.03);
        expect(relativeGap(a.offload.storage.total, b.offload.storage.total)).toBeLessThan(0.03);
        for (const id of caught.vmIds()) {
          const x = caught.vmCounters(id);
          const y = stepped.vmCounters(id);
          expect(relativeGap(x.cycles.guest, y.cycles.guest)).toBeLessThan(0.12);
          expect(relativeGap(x.cycles.hypervisor, y.cycles.hypervisor)).toBeLessThan(0.12);
          expect(relativeGap(x.io.packets, y.io.packets)).toBeLessThan(0.12);
          // First touches follow the same rate, so about as much memory ends up backed.
          expect(relativeGap(x.memory.backedPages, y.memory.backedPages)).toBeLessThan(0.12);
        }
      }
    },
    SLOW_MS,
  );

  it("replays the same counters from the same seeds and calls, through a snapshot and restore too", () => {
    const build = () =>
      filledHost(
        {
          kind: "xen",
          sockets: 1,
          coresPerSocket: 4,
          threadsPerCore: 2,
          memoryMiB: 12_000,
          dom0: { vcpus: 2 },
        },
        ["bursty", "io_intensive", "memory_intensive"],
        7,
      );
    const straight = build();
    straight.catchUp(2 * HOUR);
    straight.catchUp(5 * HOUR);
    const evicted = build();
    evicted.catchUp(2 * HOUR);
    const restored = HostCpu.restore(JSON.parse(JSON.stringify(evicted.snapshot())));
    restored.catchUp(5 * HOUR);
    for (const id of straight.vmIds()) {
      expect(restored.vmCounters(id)).toEqual(straight.vmCounters(id));
      expect(restored.vmCounters(id, 20 * MINUTE)).toEqual(straight.vmCounters(id, 20 * MINUTE));
    }
    expect(restored.hostSummary(30_000)).toEqual(straight.hostSummary(30_000));
  });
});

describe("the burst chain over a stretch", () => {
  const bursty = PROFILES.bursty;

  it(
    "ends a run of m seconds in the state m one-second steps would, in law",
    () => {
      const trials = 20_000;
      for (const m of [1, 7, 40, 500]) {
        let jumped = 0;
        let stepped = 0;
        const rng = new Rng(m);
        for (let t = 0; t < trials; t++) {
          const a = { burstOn: false };
          runBurstChain(bursty, rng, a, m);
          if (a.burstOn) jumped++;
          const b = { burstOn: false };
          for (let s = 0; s < m; s++) sampleActivity(bursty, rng, b);
          if (b.burstOn) stepped++;
        }
        // Two binomial estimates of the same chance: 4 sigma of their difference is under 0.02.
        expect(Math.abs(jumped - stepped) / trials).toBeLessThan(0.02);
      }
    },
    SLOW_MS,
  );

  it(
    "draws a stretch's second in a burst as often as a uniformly chosen second of the stretch is in one",
    () => {
      const trials = 20_000;
      const inBurst = (activity: number) => activity > 1; // 0.9 / 0.3 in a burst, 0.05 / 0.3 out of one
      for (const [length, startOn] of [
        [5, false],
        [40, false],
        [40, true],
        [600, false],
      ] as const) {
        const rng = new Rng(length);
        let drawn = 0;
        let chosen = 0;
        for (let t = 0; t < trials; t++) {
          if (inBurst(sampleStretchActivity(bursty, rng, { burstOn: startOn }, length))) drawn++;
          // The same stretch second by second, and one of its seconds picked at random.
          const pick = Math.floor(rng.next() * length);
          const state = { burstOn: startOn };
          for (let s = 0; s < length; s++) {
            const activity = sampleActivity(bursty, rng, state);
            if (s === pick && inBurst(activity)) chosen++;
          }
        }
        expect(Math.abs(drawn - chosen) / trials).toBeLessThan(0.02);
      }
    },
    SLOW_MS,
  );

  it("never flips a chain whose means say it cannot leave, and alternates one that must every second", () => {
    const rng = new Rng(1);
    const stuck = { ...bursty, burst: { ...bursty.burst!, meanOnSec: Number.POSITIVE_INFINITY } };
    const on = { burstOn: true };
    runBurstChain(stuck, rng, on, 1_000_000);
    expect(on.burstOn).toBe(true);
    const flipping = { ...bursty, burst: { ...bursty.burst!, meanOnSec: 1, meanOffSec: 1 } };
    const s = { burstOn: false };
    runBurstChain(flipping, rng, s, 7);
    expect(s.burstOn).toBe(true);
    runBurstChain(flipping, rng, s, 10);
    expect(s.burstOn).toBe(true);
  });
});

describe("the counter history under stretches", () => {
  const record = (values: number[]) => Float64Array.from(values);

  it("counts a stretch in the totals and the minute ring, and answers short windows from whole minutes", () => {
    const h = new CounterHistory(2);
    for (let i = 0; i < 30; i++) h.push(record([1, 10]));
    h.pushRepeated(record([2, 20]), 150);
    expect(Array.from(h.window().sum)).toEqual([30 + 300, 300 + 3000]);
    expect(h.intervals).toBe(180);
    // Three whole minutes: 30 s at 1 and 30 s at 2, then two minutes at 2.
    const threeMin = h.window(180_000);
    expect(threeMin.seconds).toBe(180);
    // Ten seconds reach into the stretch, which holds no single seconds: the last whole minute answers.
    const ten = h.window(10_000);
    expect(ten.seconds).toBe(60);
    expect(Array.from(ten.sum)).toEqual([120, 1200]);
    // Single seconds after it answer as before.
    for (let i = 0; i < 15; i++) h.push(record([5, 50]));
    expect(h.window(10_000)).toEqual({ sum: Float64Array.from([50, 500]), seconds: 10 });
    expect(h.window(30_000).seconds).toBeGreaterThanOrEqual(30);
  });

  it("stays bounded for a stretch of any length and keeps what the promised intervals will not push out", () => {
    const h = new CounterHistory(1);
    const years = 3 * 365 * 86_400;
    h.pushRepeated(record([1]), years, 60);
    for (let i = 0; i < 60; i++) h.push(record([1]));
    expect(h.window().sum[0]).toBe(years + 60);
    const hour = h.window(3_600_000);
    expect(hour.sum[0]).toBe(hour.seconds);
    expect(hour.seconds).toBeGreaterThanOrEqual(3600);
  });

  it("keeps where single seconds begin through a snapshot and restore", () => {
    const h = new CounterHistory(1);
    h.pushRepeated(record([3]), 200);
    h.push(record([1]));
    const back = CounterHistory.restore(JSON.parse(JSON.stringify(h.snapshot())));
    expect(back.window(5_000)).toEqual(h.window(5_000));
    expect(back.window(5_000).seconds).toBeGreaterThan(5);
  });
});
