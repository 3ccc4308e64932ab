// A transfer's path priced by the CPU model: the ceilings come from the model's costs and the
// cited limits, and the answer is the lowest of them; checked here against the calibration of
// the split-driver path (Ram et al.'s 2.9 Gb/s a netback thread) and EC2's 5 Gbps per flow.
import { describe, expect, it } from "vitest";
import { HostCpu, type HostDescription, type InstanceCaps } from "../../../src/sim/cpu";
import { SPLIT_DRIVER_CEILING_GBPS } from "../../../src/sim/cpu/costs";
import {
  type Endpoint,
  headerBytes,
  JUMBO_MTU,
  maxFrame,
  packetsFor,
  SINGLE_FLOW_GBPS,
  STANDARD_MTU,
  transfer,
} from "../../../src/sim/network/path";
import { OVERLAY_HEADER_BYTES } from "../../../src/sim/network/vswitch";

const BIG: InstanceCaps = { vcpus: 8, memoryMiB: 16384, networkGbps: 25, ebsMbps: 4750, ebsIops: 20000 };
const SMALL: InstanceCaps = { ...BIG, networkGbps: 0.75 };

function endpoint(
  kind: HostDescription["kind"],
  caps: InstanceCaps,
  bytes: number,
  mtu: number,
  rack = "r1",
  zone = "z1",
  mode?: "pv" | "hvm",
) {
  const cpu = new HostCpu({
    kind,
    sockets: 2,
    coresPerSocket: 18,
    threadsPerCore: 2,
    ...(mode ? { xenGuestMode: mode } : {}),
  });
  cpu.addVm("vm", caps, "idle", 1);
  const one = cpu.priceTransfer("vm", 1)!;
  const frame = Math.min(mtu, maxFrame(one.netPath));
  const price = cpu.priceTransfer("vm", packetsFor(bytes, frame, "tcp"))!;
  const e: Endpoint = { hostId: `h-${rack}`, rack, zone, price };
  return { e, frame, path: one.netPath };
}

const overlay = { kind: "overlay" as const, vni: 42, headerBytes: OVERLAY_HEADER_BYTES };

describe("a transfer's path", () => {
  it("is held to the lower type's bandwidth, or to the single-flow limit between two large ones", () => {
    const bytes = 1e9;
    const a = endpoint("nitro", BIG, bytes, JUMBO_MTU);
    const b = endpoint("nitro", SMALL, bytes, JUMBO_MTU, "r2");
    const slow = transfer(a.e, b.e, overlay, "tcp", bytes, a.frame);
    expect(slow).toMatchObject({ throughputGbps: 0.75, limitedBy: "destination-instance-bandwidth" });
    const c = endpoint("nitro", BIG, bytes, JUMBO_MTU, "r2");
    const fast = transfer(a.e, c.e, overlay, "tcp", bytes, a.frame);
    expect(fast).toMatchObject({ throughputGbps: SINGLE_FLOW_GBPS, limitedBy: "single-flow" });
    // Every byte of payload, in frames of the path's size, plus each frame's headers and the overlay's.
    const packets = Math.ceil(bytes / (JUMBO_MTU - headerBytes("tcp")));
    expect(fast.packets).toBe(packets);
    expect(fast.wireBytes).toBe(bytes + packets * (headerBytes("tcp") + 14 + OVERLAY_HEADER_BYTES));
    expect(fast.durationMs).toBeGreaterThan(((bytes * 8) / (SINGLE_FLOW_GBPS * 1e9)) * 1000);
  });

  it("through dom0's netback moves what one netback thread moves: the split-driver calibration", () => {
    const bytes = 1e8;
    const a = endpoint("xen", BIG, bytes, JUMBO_MTU, "r1", "z1", "pv");
    const b = endpoint("xen", BIG, bytes, JUMBO_MTU, "r2", "z1", "pv");
    expect(a.path).toBe("netfront");
    expect(a.frame).toBe(STANDARD_MTU);
    const t = transfer(a.e, b.e, overlay, "tcp", bytes, a.frame);
    // Calibrated at 1,500-byte frames carrying 1,500 bytes each; a TCP payload is 40 bytes less.
    const expected = SPLIT_DRIVER_CEILING_GBPS * ((STANDARD_MTU - headerBytes("tcp")) / STANDARD_MTU);
    expect(t.ceilingsGbps["source-backend"]).toBeCloseTo(expected, 1);
    expect(t.limitedBy === "source-backend" || t.limitedBy === "destination-backend").toBe(true);
    expect(t.ceilingsGbps["source-card"]).toBeNull();
  });

  it("takes longer to its first byte across racks than within one, and longer again across zones", () => {
    const bytes = 1000;
    const a = endpoint("nitro", BIG, bytes, JUMBO_MTU, "r1", "z1");
    const sameRack = transfer(
      a.e,
      endpoint("nitro", BIG, bytes, JUMBO_MTU, "r1", "z1").e,
      overlay,
      "tcp",
      bytes,
      JUMBO_MTU,
    );
    const otherRack = transfer(
      a.e,
      endpoint("nitro", BIG, bytes, JUMBO_MTU, "r2", "z1").e,
      overlay,
      "tcp",
      bytes,
      JUMBO_MTU,
    );
    const otherZone = transfer(
      a.e,
      endpoint("nitro", BIG, bytes, JUMBO_MTU, "r2", "z2").e,
      overlay,
      "tcp",
      bytes,
      JUMBO_MTU,
    );
    const local = transfer(
      a.e,
      endpoint("nitro", BIG, bytes, JUMBO_MTU, "r1", "z1").e,
      { kind: "local" },
      "tcp",
      bytes,
      JUMBO_MTU,
    );
    expect([local.hops, sameRack.hops, otherRack.hops]).toEqual([0, 1, 3]);
    expect(local.latencyUs).toBeLessThan(sameRack.latencyUs);
    expect(sameRack.latencyUs).toBeLessThan(otherRack.latencyUs);
    // At most 100 km between zones, at 5 µs a km: up to 500 µs more.
    expect(otherZone.latencyUs - otherRack.latencyUs).toBeCloseTo(500, 5);
  });

  it("refuses ends priced for another number of packets", () => {
    const a = endpoint("nitro", BIG, 1e6, JUMBO_MTU);
    const b = endpoint("nitro", BIG, 1e3, JUMBO_MTU);
    expect(() => transfer(a.e, b.e, overlay, "tcp", 1e6, JUMBO_MTU)).toThrow(/priced/);
  });
});
