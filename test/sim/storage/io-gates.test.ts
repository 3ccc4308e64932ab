// The I/O path's rate gates: without tolerance each holds a run to its rate; with one (st1's bucket) a
// run goes at the peak gate's rate until the bucket is spent, then at the sustained rate; and an io2
// volume alone is held to its published 4,000 MiB/s. Expected figures are worked out here from the
// definitions (GCRA, ITU-T I.371) and the published limits.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bucketShare, type Gate, passGates } from "../../../src/sim/storage/io-path";
import { resolveVolume, volumeRates } from "../../../src/sim/storage/volume-types";

const MIB = 1024 * 1024;

/** Runs `n` I/Os of `bytes` through gates counting bytes, all asked for at 0; answers the last done. */
function run(gates: Gate[], n: number, bytes: number): number {
  let last = 0;
  for (let i = 0; i < n; i++)
    last = passGates(
      gates,
      gates.map(() => bytes),
      0,
    ).done;
  return last;
}

describe("rate gates", () => {
  it("hold a run to the slowest gate's rate", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 10_000 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 200 }),
        (ratesMiB, n) => {
          const gates = ratesMiB.map((r) => ({ rate: r * MIB, tat: Number.NEGATIVE_INFINITY }));
          const done = run(gates, n, MIB);
          const slowest = Math.min(...ratesMiB);
          expect(done).toBeCloseTo((1000 * n) / slowest, 6);
        },
      ),
    );
  });

  it("let a bucket's worth through at the peak rate, then the rest at the sustained one", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 2, max: 10 }),
        fc.integer({ min: 10, max: 1000 }),
        (R, k, bucketMiB) => {
          const P = R * k;
          const sustained: Gate = {
            rate: R * MIB,
            tat: Number.NEGATIVE_INFINITY,
            toleranceMs: (1000 * bucketMiB) / R,
          };
          const peak: Gate = { rate: P * MIB, tat: Number.NEGATIVE_INFINITY };
          // Drains after B / (P − R) seconds, having moved P × that; then R.
          const drainS = bucketMiB / (P - R);
          const n = Math.ceil(P * drainS) + 50;
          const done = run([sustained, peak], n, MIB);
          const want = drainS + (n - P * drainS) / R;
          expect(done / 1000).toBeCloseTo(want, 3);
          expect(bucketShare(sustained, done)).toBeCloseTo(0, 6);
        },
      ),
      { numRuns: 30 },
    );
  });

  it("holds an io2 volume on its own to 4,000 MiB/s, and st1 to 250 MiB/s per TiB at most 500", () => {
    const io2 = volumeRates(resolveVolume({ type: "io2", sizeGiB: 1000, iops: 256_000 }));
    expect(io2.bytesPerSec).toBe(4000 * MIB);
    const gates = [
      { rate: io2.iops, tat: Number.NEGATIVE_INFINITY },
      { rate: io2.bytesPerSec, tat: Number.NEGATIVE_INFINITY },
    ];
    // 256 KiB I/Os: 16,000 a second move 4,000 MiB/s, under the 256,000 IOPS.
    let done = 0;
    for (let i = 0; i < 16_000; i++) done = passGates(gates, [1, 256 * 1024], 0).done;
    expect(done).toBeCloseTo(1000, 6);
    expect(volumeRates(resolveVolume({ type: "st1", sizeGiB: 1024 })).burst?.bytesPerSec).toBe(250 * MIB);
    expect(volumeRates(resolveVolume({ type: "st1", sizeGiB: 4096 })).burst?.bytesPerSec).toBe(500 * MIB);
    expect(volumeRates(resolveVolume({ type: "st1", sizeGiB: 4096 })).bytesPerSec).toBe(160 * MIB);
    expect(volumeRates(resolveVolume({ type: "gp3", sizeGiB: 8 })).burst).toBeNull();
  });
});
