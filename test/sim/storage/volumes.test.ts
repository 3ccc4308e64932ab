// Volume types against the EBS figures they cite, CRC-32C against its check value, the I/O path's
// price per path and its gates' throughput, and incremental snapshots against a reference model.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_COSTS } from "../../../src/sim/cpu/costs";
import { CARD_NS_PER_IO } from "../../../src/sim/cpu/devices";
import { defaultOptimizations } from "../../../src/sim/cpu/hypervisor";
import { crc32c, crc32cHex } from "../../../src/sim/storage/checksum";
import { type Gate, ioCost, passGates } from "../../../src/sim/storage/io-path";
import { changedBlocks, resolveChain, versionTag } from "../../../src/sim/storage/snapshots";
import { resolveVolume, VolumeSpecError, volumeRates } from "../../../src/sim/storage/volume-types";

describe("volume types", () => {
  it("resolves the published defaults and ceilings", () => {
    expect(resolveVolume({ type: "gp3", sizeGiB: 1 })).toMatchObject({ iops: 3000, throughputMiBps: 125 });
    // 16,000 IOPS needs 32 GiB at 500 IOPS per GiB; 1,000 MiB/s needs 4,000 IOPS at 0.25 MiB/s each.
    expect(resolveVolume({ type: "gp3", sizeGiB: 32, iops: 16_000, throughputMiBps: 1000 }).iops).toBe(
      16_000,
    );
    expect(() => resolveVolume({ type: "gp3", sizeGiB: 31, iops: 16_000 })).toThrow(VolumeSpecError);
    expect(() => resolveVolume({ type: "gp3", sizeGiB: 100, iops: 3000, throughputMiBps: 751 })).toThrow(
      /0.25/,
    );
    expect(resolveVolume({ type: "io2", sizeGiB: 256, iops: 256_000 }).throughputMiBps).toBe(4000);
    expect(() => resolveVolume({ type: "io2", sizeGiB: 10, iops: 10_001 })).toThrow(/1000 IOPS per GiB/);
    // st1: 40 MiB/s per TiB, 500 at most; 500 IOPS.
    expect(resolveVolume({ type: "st1", sizeGiB: 2048 })).toMatchObject({ throughputMiBps: 80, iops: 500 });
    expect(resolveVolume({ type: "st1", sizeGiB: 16_384 }).throughputMiBps).toBe(500);
    expect(() => resolveVolume({ type: "st1", sizeGiB: 124 })).toThrow(/125 to 16384/);
    expect(() => resolveVolume({ type: "gp3", sizeGiB: 8, multiAttach: true })).toThrow(/only io2/);
    expect(resolveVolume({ type: "io2", sizeGiB: 8, iops: 100, multiAttach: true }).multiAttach).toBe(true);
  });

  it("names the field at fault", () => {
    try {
      resolveVolume({ type: "io2", sizeGiB: 8 });
      expect.unreachable();
    } catch (err) {
      expect((err as VolumeSpecError).field).toBe("iops");
    }
  });
});

describe("CRC-32C", () => {
  it("gives the Castagnoli check value of '123456789' (RFC 3720, B.4)", () => {
    expect(crc32c(new TextEncoder().encode("123456789"))).toBe(0xe3069283);
    expect(crc32cHex(new Uint8Array(32))).toBe("8a9136aa");
  });
});

describe("the block I/O path", () => {
  it("prices a Nitro I/O on the card, a Xen one in dom0's blkback, a KVM one in vhost", () => {
    const nitro = ioCost("nitro", "hvm", defaultOptimizations("nitro"));
    expect(nitro).toMatchObject({
      path: "nvme_card",
      backend: "none",
      dom0Cycles: 0,
      hostCycles: 0,
      cardNs: CARD_NS_PER_IO,
    });
    const xen = ioCost("xen", "pv", defaultOptimizations("xen"));
    expect(xen.path).toBe("blkfront");
    const grant = DEFAULT_COSTS.pvHypercallEntry + DEFAULT_COSTS.hypercallHandler.grant_table_op;
    expect(xen.dom0Cycles).toBe(DEFAULT_COSTS.blkbackPerIo + 2 * grant);
    // One blkback thread per disk: its ceiling is a core's cycles over one I/O's.
    expect(xen.backendIops).toBeCloseTo((DEFAULT_COSTS.freqGhz * 1e9) / xen.dom0Cycles, 6);
    const kvm = ioCost("type2", "hvm", defaultOptimizations("type2"));
    expect(kvm.hostCycles).toBeGreaterThan(0);
  });

  it("lets a burst of I/Os through at the slowest gate's rate, never faster", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 100, max: 100_000 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 2, max: 400 }),
        (rates, n) => {
          const gates: Gate[] = rates.map((rate) => ({ rate, tat: Number.NEGATIVE_INFINITY }));
          let last = 0;
          for (let i = 0; i < n; i++)
            last = passGates(
              gates,
              rates.map(() => 1),
              0,
            ).done;
          const slowest = Math.min(...rates);
          // n I/Os issued at once finish n / rate seconds later, to rounding.
          expect(last).toBeCloseTo((1000 * n) / slowest, 6);
        },
      ),
    );
  });
});

describe("incremental snapshots", () => {
  it("store only changed blocks, and restore exactly what the volume held at each snapshot", () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant("write" as const), n: fc.nat(15), data: fc.nat(1000) }),
      fc.constant({ kind: "snap" as const }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const volume = new Map<number, { seq: number; data: number }>();
        let seq = 0;
        const chain: { n: number; seq: number; data: number; tag: string }[][] = [];
        const expected: Map<number, number>[] = [];
        for (const s of steps) {
          if (s.kind === "write") {
            volume.set(s.n, { seq: ++seq, data: s.data });
            continue;
          }
          const previous = new Map([...resolveChain(chain)].map(([n, b]) => [n, b.tag]));
          const current = [...volume].map(([n, b]) => ({
            n,
            seq: b.seq,
            data: b.data,
            tag: versionTag("vol-a", b.seq),
          }));
          const changed = changedBlocks(current, previous);
          // Incremental: nothing stored twice.
          for (const b of changed) expect(previous.get(b.n)).not.toBe(b.tag);
          chain.push(changed);
          expected.push(new Map([...volume].map(([n, b]) => [n, b.data])));
        }
        // Each snapshot restores the volume as it was when it was taken.
        expected.forEach((want, i) => {
          const got = new Map([...resolveChain(chain.slice(0, i + 1))].map(([n, b]) => [n, b.data]));
          expect(got).toEqual(want);
        });
        const stored = chain.reduce((k, c) => k + c.length, 0);
        expect(stored).toBeLessThanOrEqual(steps.filter((s) => s.kind === "write").length);
      }),
      { numRuns: 300 },
    );
  });
});

it("volume rates follow the resolved shape", () => {
  expect(volumeRates(resolveVolume({ type: "gp3", sizeGiB: 8 }))).toMatchObject({
    iops: 3000,
    bytesPerSec: 125 * 1024 * 1024,
  });
});
