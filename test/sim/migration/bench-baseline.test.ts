// The migration benchmark compares the model (a dirty bitmap, writes sampled) with a naive model (an
// object per page, every write simulated): the comparison means something only if both do the same
// migration. On a guest small enough for a unit test, they must agree on its rounds and its bytes.
import { describe, expect, it } from "vitest";
import { runNaive } from "../../../bench/_migration-naive";
import { MBIT, QemuPolicy, runMigration, switchoverCosts } from "../../../src/sim/migration";

const MiB = 1024 ** 2;
const LINK = 1000 * MBIT;
// A guest whose working set takes a few rounds to fit under QEMU's 300 ms downtime limit.
const MEMORY = 1024 * MiB;
const GUEST = { hotBytes: 128 * MiB, hotWritesPerSec: 16_000, coldWritesPerSec: 16 };
const policy = () => new QemuPolicy({ maxBandwidthBps: LINK }, LINK);

describe("the migration benchmark's baseline", () => {
  it("runs the same pre-copy as the model: the same rounds, bytes within 5%", () => {
    for (const seed of [1, 2]) {
      const model = runMigration({
        memoryBytes: MEMORY,
        vcpus: 4,
        linkBps: LINK,
        guest: GUEST,
        policy: policy(),
        mode: "precopy",
        switchover: switchoverCosts("nitro"),
        seed,
      });
      const naive = runNaive(MEMORY, LINK, GUEST, policy(), seed);
      expect(model.outcome).toBe("completed");
      expect(model.rounds.length).toBeGreaterThanOrEqual(3);
      expect(Math.abs(naive.rounds - model.rounds.length)).toBeLessThanOrEqual(1);
      expect(naive.transferredBytes / model.ram.transferredBytes).toBeGreaterThan(0.95);
      expect(naive.transferredBytes / model.ram.transferredBytes).toBeLessThan(1.05);
      expect(naive.memoryMs / model.downtime.memoryMs).toBeGreaterThan(0.5);
      expect(naive.memoryMs / model.downtime.memoryMs).toBeLessThan(2);
    }
  });
});
