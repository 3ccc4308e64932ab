// An instance's I/O allowances through the API: a guest above its type's bandwidth is held to it, and the
// instance's CPU counters and its host's answer say so, in ENA's and CloudWatch's terms.
import { describe, expect, it } from "vitest";
import { CARD_NS_PER_IO, CARD_NS_PER_PACKET } from "../../src/sim/cpu/devices";
import { addHosts, advance, call, freshZone, launch } from "./helpers";

interface Io {
  io: {
    packetsThrottled: number;
    cardBusyMs: number;
    network: {
      baselineGbps: number;
      burstGbps: number;
      bytes: { in: number; out: number };
      offeredBytes: { in: number; out: number };
      bwOutAllowanceExceeded: number;
      throttledSeconds: number;
      creditBalancePct: { in: number | null; out: number | null };
    };
    ebs: { instanceIopsExceeded: number; ioBalancePct: number | null; throttledSeconds: number };
  };
  windowMs: number;
}

interface HostAnswer {
  virtualization: {
    offload: {
      network: { total: number; inHardware: number };
      storage: { total: number; inHardware: number };
      cardBusyMs: number;
      hostIoCycles: number;
      throttling: { bwOutAllowanceExceeded: number; networkThrottledVmSeconds: number };
    };
  };
}

describe("I/O allowances through the API", () => {
  it("holds a guest sending twice its type's bandwidth to that bandwidth, and shows it in its counters and its host's", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "c5", 1);
    // c5.9xlarge: 10 Gbps sustained in each direction, no burst.
    const loud = (
      await launch({
        instanceType: "c5.9xlarge",
        availabilityZone: zone,
        workload: { base: "io_intensive", networkLoad: 2 },
      })
    ).body.instances[0];
    const quiet = (
      await launch({ instanceType: "c5.9xlarge", availabilityZone: zone, workload: "io_intensive" })
    ).body.instances[0];
    await advance(60);

    const l = await call<Io>("GET", `/v1/instances/${loud.instanceId}/cpu?windowSeconds=30`);
    expect(l.status).toBe(200);
    const n = l.body.io.network;
    expect(n.baselineGbps).toBe(10);
    expect(n.burstGbps).toBe(10);
    // Delivered: 10 Gbps, to within 0.5% (whole packets per second); offered about twice that.
    const gbps = (n.bytes.out * 8) / 1e9 / (l.body.windowMs / 1000);
    expect(Math.abs(gbps / 10 - 1)).toBeLessThan(0.005);
    expect(n.offeredBytes.out).toBeGreaterThan(1.8 * n.bytes.out);
    expect(n.bwOutAllowanceExceeded).toBeGreaterThan(0);
    expect(n.throttledSeconds).toBe(30);
    expect(n.creditBalancePct).toEqual({ in: null, out: null });

    const q = await call<Io>("GET", `/v1/instances/${quiet.instanceId}/cpu?windowSeconds=30`);
    expect(q.body.io.packetsThrottled).toBe(0);
    expect(q.body.io.network.throttledSeconds).toBe(0);
    expect(q.body.io.ebs.throttledSeconds).toBe(0);

    const h = await call<HostAnswer>("GET", `/v1/hosts/${host.hostId}`);
    const offload = h.body.virtualization.offload;
    expect(offload.throttling.bwOutAllowanceExceeded).toBeGreaterThan(0);
    expect(offload.throttling.networkThrottledVmSeconds).toBeGreaterThan(0);
    // The card did the work: it moved every packet and I/O, and was busy for exactly what they take it
    // (devices.ts), which the host's cores would otherwise have spent as hostIoCycles.
    expect(offload.network.inHardware).toBe(offload.network.total);
    expect(offload.storage.inHardware).toBe(offload.storage.total);
    expect(offload.network.total).toBeGreaterThan(0);
    expect(offload.cardBusyMs).toBeCloseTo(
      (offload.network.inHardware * CARD_NS_PER_PACKET + offload.storage.inHardware * CARD_NS_PER_IO) / 1e6,
      3,
    );
  });

  it("lets an 'up to 10 Gigabit' c5.large burst past its baseline on credits, and shows the bucket draining", async () => {
    const zone = freshZone();
    await addHosts(zone, "c5", 1);
    const inst = (
      await launch({
        instanceType: "c5.large",
        availabilityZone: zone,
        workload: { base: "io_intensive", networkLoad: 4, storageLoad: 10 },
      })
    ).body.instances[0];
    await advance(40);
    const c = await call<Io>("GET", `/v1/instances/${inst.instanceId}/cpu?windowSeconds=20`);
    const n = c.body.io.network;
    expect(n.baselineGbps).toBe(0.75);
    expect(n.burstGbps).toBe(10);
    // Four times the baseline, all delivered while credits last.
    const gbps = (n.bytes.out * 8) / 1e9 / (c.body.windowMs / 1000);
    expect(gbps).toBeGreaterThan(2.5);
    expect(n.bwOutAllowanceExceeded).toBe(0);
    expect(n.creditBalancePct.out).toBeLessThan(100);
    expect(n.creditBalancePct.out).toBeGreaterThan(90);
    // Ten times the EBS baseline IOPS is twice its maximum: held at the maximum, the bucket draining.
    expect(c.body.io.ebs.instanceIopsExceeded).toBeGreaterThan(0);
    expect(c.body.io.ebs.ioBalancePct).toBeLessThan(100);
  });

  it("takes a workload that receives as well as sends, and refuses a negative inbound load", async () => {
    const zone = freshZone();
    await addHosts(zone, "c5", 1);
    const inst = (
      await launch({
        instanceType: "c5.xlarge",
        availabilityZone: zone,
        workload: { base: "io_intensive", networkInLoad: 0.5 },
      })
    ).body.instances[0];
    await advance(40);
    const c = await call<Io>("GET", `/v1/instances/${inst.instanceId}/cpu?windowSeconds=20`);
    expect(c.body.io.network.bytes.in).toBeGreaterThan(0);
    const bad = await call<{ detail: string }>("PUT", `/v1/instances/${inst.instanceId}/workload`, {
      profile: { networkInLoad: -1 },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toContain("networkInLoad");
  });
});
