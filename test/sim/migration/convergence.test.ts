// A guest that rewrites memory faster than the link carries: pre-copy never catches up. Xen's
// rules stop anyway and pay for it in downtime; QEMU's threshold is never met, and the policy
// decides: give up, throttle the guest (auto-converge) or switch to post-copy.
import { describe, expect, it } from "vitest";
import {
  type GuestWrites,
  MBIT,
  type MigrationPolicy,
  QemuPolicy,
  runMigration,
  switchoverCosts,
  XenPolicy,
} from "../../../src/sim/migration";

const GiB = 1024 ** 3;
const PAGE = 4096;
const GIGABIT = 1000 * MBIT;

// A 4 GiB guest whose 1 GiB working set takes 200,000 page writes a second: 6.5 Gbit/s of dirtying
// over a 1 Gbit/s link.
const MEMORY = 4 * GiB;
const HOT_PAGES = GiB / PAGE;
const FAST_WRITER: GuestWrites = { hotBytes: GiB, hotWritesPerSec: 200_000, coldWritesPerSec: 100 };

function migrate(policy: MigrationPolicy, mode: "precopy" | "postcopy" = "precopy", seed = 1) {
  return runMigration({
    memoryBytes: MEMORY,
    vcpus: 4,
    linkBps: GIGABIT,
    guest: FAST_WRITER,
    policy,
    mode,
    switchover: switchoverCosts("nitro"),
    seed,
  });
}

describe("a guest that dirties memory faster than the link carries", () => {
  it("dirties more per second than the link sends (the premise)", () => {
    const dirtyingBps = Math.min(FAST_WRITER.hotWritesPerSec, HOT_PAGES) * PAGE * 8;
    expect(dirtyingBps).toBeGreaterThan(GIGABIT);
  });

  it("does not converge under Xen's rules and pays seconds of downtime", () => {
    const r = migrate(new XenPolicy());
    expect(r.outcome).toBe("completed");
    expect(r.converged).toBe(false);
    expect(r.downtimeMs).toBeGreaterThan(2000);
    expect(r.downtime.memoryMs / r.downtimeMs).toBeGreaterThan(0.9);
    expect(r.reason).toMatch(/500 Mbit\/s|iterations|memory sent/);
  });

  it("never meets QEMU's threshold and aborts when the operator's patience runs out", () => {
    const r = migrate(new QemuPolicy({ giveUpRounds: 20 }, GIGABIT));
    expect(r.outcome).toBe("aborted");
    expect(r.converged).toBe(false);
    expect(r.rounds).toHaveLength(20);
    expect(r.reason).toMatch(/did not converge/);
    // The guest never paused; what it would have cost is in the stats.
    expect(r.downtimeMs).toBe(0);
    expect(r.expectedDowntimeMs).toBeGreaterThan(300);
    for (const round of r.rounds.slice(1))
      expect(round.dirtyPages * PAGE).toBeGreaterThan(round.bytesSent * 0.5);
  });

  it("converges with auto-converge, its throttle rising in QEMU's steps and visible per round", () => {
    const r = migrate(new QemuPolicy({ autoConverge: true, giveUpRounds: 200 }, GIGABIT));
    expect(r.outcome).toBe("completed");
    expect(r.converged).toBe(true);
    expect(r.downtimeMs).toBeLessThan(300 + 100);
    const steps = [...new Set(r.rounds.map((x) => x.throttlePct))];
    expect(steps[0]).toBe(0);
    expect(steps[1]).toBe(20);
    for (let i = 2; i < steps.length; i++) expect(steps[i]).toBe(Math.min(99, steps[i - 1] + 10));
    expect(r.cpuThrottlePct).toBeGreaterThan(20);
  });

  it("switches to post-copy when allowed, with a short pause and the guest slowed by remote faults", () => {
    const r = migrate(new QemuPolicy({ postcopy: true, giveUpRounds: 5 }, GIGABIT));
    expect(r.outcome).toBe("completed");
    expect(r.mode).toBe("postcopy");
    expect(r.rounds).toHaveLength(5);
    expect(r.downtimeMs).toBeLessThan(50);
    expect(r.postcopy).not.toBeNull();
    expect(r.postcopy!.pagesRequested).toBeGreaterThan(0);
    expect(r.postcopy!.slowdown).toBeGreaterThan(0);
    expect(r.ram.remainingBytes).toBe(0);
  });
});

describe("post-copy (Hines and Gopalan)", () => {
  it("moves every page exactly once: pushed or requested", () => {
    const r = migrate(new QemuPolicy({}, GIGABIT), "postcopy");
    expect(r.rounds).toHaveLength(0);
    expect(r.postcopy!.pagesPushed + r.postcopy!.pagesRequested).toBe(MEMORY / PAGE);
    expect(r.ram.transferredBytes).toBe(MEMORY);
    // Nearly all of the working set is faulted in before the in-order push reaches it.
    expect(r.postcopy!.pagesRequested).toBeGreaterThan(HOT_PAGES * 0.5);
  });

  it("loses the guest if the source fails before the last page arrives", () => {
    const whole = migrate(new QemuPolicy({}, GIGABIT), "postcopy");
    const at = whole.switchedAtMs! + whole.postcopy!.durationMs / 2;
    const r = runMigration({
      memoryBytes: MEMORY,
      vcpus: 4,
      linkBps: GIGABIT,
      guest: FAST_WRITER,
      policy: new QemuPolicy({}, GIGABIT),
      mode: "postcopy",
      switchover: switchoverCosts("nitro"),
      seed: 1,
      sourceFailsAtMs: at,
    });
    expect(r.outcome).toBe("lost");
    expect(r.reason).toMatch(/source host failed/);
    expect(r.ram.remainingBytes).toBeGreaterThan(0);
  });

  it("keeps the guest on the source when the destination fails during pre-copy", () => {
    const r = runMigration({
      memoryBytes: MEMORY,
      vcpus: 4,
      linkBps: GIGABIT,
      guest: FAST_WRITER,
      policy: new XenPolicy(),
      mode: "precopy",
      switchover: switchoverCosts("xen"),
      seed: 1,
      destinationFailsAtMs: 1000,
    });
    expect(r.outcome).toBe("aborted");
    expect(r.switchedAtMs).toBeNull();
    expect(r.downtimeMs).toBe(0);
  });
});
