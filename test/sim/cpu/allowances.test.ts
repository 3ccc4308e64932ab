// The I/O allowances of an instance type, metered on its cards: bandwidth in each direction and the packet
// rate (named as ENA counts them), EBS IOPS and throughput, the credit buckets of "up to" types (EC2 user
// guide, "Amazon EC2 instance network bandwidth" and "Amazon EBS-optimized instances"), and the io2 limit
// that depends on the platform (256,000 IOPS on Nitro, 32,000 elsewhere; REFERENCES.md).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { findInstanceType } from "../../../src/sim/catalog";
import {
  type EbsVolume,
  HostCpu,
  type HypervisorKind,
  type InstanceCaps,
  NETWORK_CREDIT_SECONDS,
  PROFILE_NAMES,
  type VmCpuCounters,
  type VmOptions,
  type WorkloadSpec,
} from "../../../src/sim/cpu";
import { CARD_NS_PER_IO, CARD_NS_PER_PACKET } from "../../../src/sim/cpu/devices";
import { host96 } from "./fixtures";

/** An instance type's caps as the fleet's host model hands them to the CPU model. */
function capsOf(name: string): InstanceCaps {
  const t = findInstanceType(name);
  if (!t) throw new Error(`no type ${name}`);
  return {
    vcpus: t.vcpus,
    memoryMiB: t.memoryMiB,
    networkGbps: t.networkGbps,
    networkBurstGbps: t.networkBurstGbps,
    ebsMbps: t.ebsBaselineMbps,
    ebsBurstMbps: t.ebsBurstMbps,
    ebsIops: t.ebsBaselineIops,
    ebsBurstIops: t.ebsBurstIops,
  };
}

function oneGuest(
  kind: HypervisorKind,
  type: string,
  workload: WorkloadSpec,
  volume?: EbsVolume,
): { host: HostCpu; caps: InstanceCaps } {
  const host = new HostCpu(host96(kind, kind === "xen" ? { xenGuestMode: "hvm" } : {}));
  const caps = capsOf(type);
  host.addVm("g", caps, workload, 7, { ...(volume ? { volume } : {}), ...xenNetworking(kind, type) });
  return { host, caps };
}

/** On Xen, the type's enhanced networking as the fleet's host model gives it (an SR-IOV function or ENA). */
function xenNetworking(kind: HypervisorKind, type: string): VmOptions {
  const en = findInstanceType(type)?.enhancedNetworking ?? null;
  return kind === "xen" && en !== null ? { sriov: true, sriovAdapter: en === "ena" ? "ena" : "vf" } : {};
}

const bytesPerSec = (gbps: number) => (gbps * 1e9) / 8;
const perSecond = (c: VmCpuCounters, n: number) => n / (c.windowMs / 1000);
/** A second's packets or I/Os are whole, so rounding costs under one per second; 0.5% covers it many times over. */
const TOLERANCE = 0.005;

describe("network allowances", () => {
  it("delivers a guest sending twice its type's bandwidth that bandwidth, and counts the rest as bw_out_allowance_exceeded", () => {
    // c5.9xlarge: 10 Gbps sustained, no "up to" burst.
    const { host } = oneGuest("nitro", "c5.9xlarge", { base: "io_intensive", networkLoad: 2 });
    host.advance(60_000);
    const c = host.vmCounters("g");
    const n = c.io.network;
    expect(n.baselineGbps).toBe(10);
    expect(Math.abs(perSecond(c, n.bytes.out) / bytesPerSec(10) - 1)).toBeLessThan(TOLERANCE);
    // It asked for about twice that (the profile's activity varies by 10% from second to second).
    expect(n.offeredBytes.out / n.bytes.out).toBeGreaterThan(1.8);
    expect(n.offeredBytes.out / n.bytes.out).toBeLessThan(2.2);
    expect(n.bwOutAllowanceExceeded).toBe(c.io.packetsThrottled);
    expect(n.bwOutAllowanceExceeded).toBeGreaterThan(0.4 * (n.packets.out + n.bwOutAllowanceExceeded));
    expect(n.throttledSeconds).toBe(60);
    expect(n.bwInAllowanceExceeded).toBe(0);
    // The host's summary shows it too.
    const t = host.hostSummary().offload.throttling;
    expect(t.bwOutAllowanceExceeded).toBe(n.bwOutAllowanceExceeded);
    expect(t.networkThrottledVmSeconds).toBe(60);
  });

  it("holds back nothing from a guest below its allowances, in either direction", () => {
    const { host } = oneGuest("nitro", "c5.9xlarge", { base: "io_intensive", networkInLoad: 0.5 });
    host.advance(60_000);
    const c = host.vmCounters("g");
    const n = c.io.network;
    expect(n.bytes.out).toBeGreaterThan(0);
    expect(n.bytes.in).toBeGreaterThan(0);
    expect(n.bytes).toEqual(n.offeredBytes);
    expect(n.bwOutAllowanceExceeded + n.bwInAllowanceExceeded + n.ppsAllowanceExceeded).toBe(0);
    expect(n.throttledSeconds).toBe(0);
    expect(c.io.ebs.offeredIos).toBe(c.io.diskIos);
    expect(c.io.ebs.throttledSeconds).toBe(0);
    expect(host.hostSummary().offload.throttling.networkThrottledVmSeconds).toBe(0);
  });

  it("gives inbound and outbound the type's bandwidth each, at the same time", () => {
    const { host } = oneGuest("nitro", "c5.9xlarge", {
      base: "io_intensive",
      networkLoad: 2,
      networkInLoad: 2,
    });
    host.advance(30_000);
    const c = host.vmCounters("g");
    const n = c.io.network;
    for (const bytes of [n.bytes.in, n.bytes.out]) {
      expect(Math.abs(perSecond(c, bytes) / bytesPerSec(10) - 1)).toBeLessThan(TOLERANCE);
    }
    expect(n.bwInAllowanceExceeded).toBeGreaterThan(0);
    expect(n.bwOutAllowanceExceeded).toBeGreaterThan(0);
  });

  it("caps both directions together at a packet rate where the type has one, and says so as pps_allowance_exceeded", () => {
    const host = new HostCpu(host96("nitro"));
    // Small packets: 100,000 per second is far below the bandwidth, so only the packet rate can bind.
    host.addVm(
      "g",
      { ...capsOf("c5.9xlarge"), networkPps: 100_000 },
      { base: "io_intensive", networkLoad: 1, networkInLoad: 1, packetBytes: 64 },
      3,
    );
    host.advance(30_000);
    const c = host.vmCounters("g");
    const n = c.io.network;
    expect(perSecond(c, n.packets.in + n.packets.out)).toBe(100_000);
    expect(n.ppsAllowanceExceeded).toBeGreaterThan(0);
    expect(n.bwInAllowanceExceeded + n.bwOutAllowanceExceeded).toBe(0);
    // Each direction keeps its share of the rate.
    expect(n.packets.in / n.packets.out).toBeGreaterThan(0.9);
    expect(n.packets.in / n.packets.out).toBeLessThan(1.1);
  });

  /** Seconds a guest demanding more than its burst gets more than its baseline, stepping second by second. */
  function burstSeconds(type: string, host: HostCpu, limit: number): number {
    const base = bytesPerSec(capsOf(type).networkGbps);
    for (let s = 1; s <= limit; s++) {
      host.advance(s * 1000);
      const c = host.vmCounters("g", 1000);
      if (c.io.network.bytes.out < base * 1.01) return s - 1;
    }
    return limit;
  }

  it("lets an 'up to 10 Gigabit' type burst for 5 to 60 minutes by size, then holds it at its baseline", () => {
    const minutes: number[] = [];
    for (const type of ["c5.large", "c5.xlarge", "c5.2xlarge", "c5.4xlarge"]) {
      // Demand three times the burst bandwidth, so the burst itself binds while it lasts.
      const caps = capsOf(type);
      const load = (3 * (caps.networkBurstGbps ?? 0)) / caps.networkGbps;
      const { host } = oneGuest("nitro", type, { base: "io_intensive", networkLoad: load });
      const seconds = burstSeconds(type, host, 2 * 3600);
      minutes.push(seconds / 60);
      // While bursting, the guest had the type's "up to" figure, not more.
      const start = host.vmCounters("g", 60_000);
      expect(start.io.network.bwOutAllowanceExceeded).toBeGreaterThan(0);
      // Afterwards the baseline holds, minute after minute, and the bucket stays empty.
      host.advance(host.nowMs + 10 * 60_000);
      const after = host.vmCounters("g", 5 * 60_000);
      const delivered = perSecond(after, after.io.network.bytes.out);
      expect(Math.abs(delivered / bytesPerSec(caps.networkGbps) - 1)).toBeLessThan(TOLERANCE);
      expect(after.io.network.throttledSeconds).toBe(after.windowMs / 1000);
      expect(after.io.network.creditBalancePct.out).toBeLessThan(1);
    }
    // The user guide: "typically from 5 to 60 minutes, depending on the instance size" (read to 5%).
    for (const m of minutes) {
      expect(m).toBeGreaterThan(5 * 0.95);
      expect(m).toBeLessThan(60 * 1.05);
    }
    expect(minutes[0]).toBeLessThan(6);
    expect(minutes[3]).toBeGreaterThan(55);
    for (let i = 1; i < minutes.length; i++) expect(minutes[i]).toBeGreaterThan(minutes[i - 1]);
  });

  it("earns network credits back while a guest stays under its baseline, and bursts on them again", () => {
    const { host } = oneGuest("nitro", "c5.large", { base: "io_intensive", networkLoad: 40 });
    host.advance(10 * 60_000);
    expect(host.vmCounters("g").io.network.creditBalancePct.out).toBeLessThan(1);
    // An hour at a tenth of the baseline earns 90% of an hour's baseline: the bucket holds one hour's.
    host.setProfile("g", { base: "io_intensive", networkLoad: 0.1 });
    host.advance(host.nowMs + 3600_000);
    const rested = host.vmCounters("g").io.network.creditBalancePct.out ?? 0;
    expect(rested).toBeGreaterThan(80);
    host.setProfile("g", { base: "io_intensive", networkLoad: 40 });
    host.advance(host.nowMs + 60_000);
    const c = host.vmCounters("g", 60_000);
    expect(perSecond(c, c.io.network.bytes.out)).toBeGreaterThan(5 * bytesPerSec(0.75));
  });

  it("gives a type without an 'up to' figure no credits to spend", () => {
    const { host } = oneGuest("nitro", "c5.9xlarge", "io_intensive");
    host.advance(5000);
    const n = host.vmCounters("g").io.network;
    expect(n.burstGbps).toBe(n.baselineGbps);
    expect(n.creditBalancePct).toEqual({ in: null, out: null });
  });
});

describe("EBS allowances", () => {
  it("delivers a guest asking for twice its EBS IOPS that many, and counts the rest against the instance", () => {
    // c5.9xlarge: 40,000 IOPS and 9,500 Mbps, sustained; at 16 KiB the IOPS limit binds.
    const { host } = oneGuest("nitro", "c5.9xlarge", { base: "io_intensive", storageLoad: 2 });
    host.advance(60_000);
    const c = host.vmCounters("g");
    const e = c.io.ebs;
    expect(Math.abs(perSecond(c, c.io.diskIos) / 40_000 - 1)).toBeLessThan(TOLERANCE);
    expect(e.offeredIos / c.io.diskIos).toBeGreaterThan(1.8);
    expect(e.instanceIopsExceeded).toBe(e.offeredIos - c.io.diskIos);
    expect(e.instanceThroughputExceeded + e.volumeIopsExceeded + e.volumeThroughputExceeded).toBe(0);
    expect(e.throttledSeconds).toBe(60);
    expect(host.hostSummary().offload.throttling.ebsIopsExceeded).toBe(e.instanceIopsExceeded);
  });

  it("holds large I/Os at the instance's EBS bandwidth, and counts them against its throughput", () => {
    const { host } = oneGuest("nitro", "c5.9xlarge", {
      base: "io_intensive",
      storageLoad: 2,
      ioBytes: 256 * 1024,
    });
    host.advance(60_000);
    const c = host.vmCounters("g");
    const e = c.io.ebs;
    const cap = (9500 * 1e6) / 8;
    // 256 KiB I/Os are coarse: a second may fall one I/O short, 0.6% of the bandwidth.
    expect(Math.abs(perSecond(c, e.bytes) / cap - 1)).toBeLessThan(0.01);
    expect(e.instanceThroughputExceeded).toBeGreaterThan(0);
    expect(e.instanceIopsExceeded).toBe(0);
  });

  it("bursts a c5.large's EBS to its maximum, holds it at its baseline once the bucket is spent, and bursts again a day later", () => {
    const caps = capsOf("c5.large");
    // Twice the maximum IOPS, at 16 KiB: the IOPS limit binds, not the bandwidth.
    const load = (2 * (caps.ebsBurstIops ?? 0)) / caps.ebsIops;
    const { host } = oneGuest("nitro", "c5.large", { base: "io_intensive", storageLoad: load });
    host.advance(60_000);
    let c = host.vmCounters("g", 60_000);
    expect(Math.abs(perSecond(c, c.io.diskIos) / 20_000 - 1)).toBeLessThan(TOLERANCE);
    expect(c.io.ebs.instanceIopsExceeded).toBeGreaterThan(0);
    // "Maximum performance for 30 minutes": still bursting at 29, at the baseline by 31.
    host.advance(29 * 60_000);
    c = host.vmCounters("g", 60_000);
    expect(perSecond(c, c.io.diskIos)).toBeGreaterThan(19_000);
    host.advance(31 * 60_000);
    c = host.vmCounters("g", 30_000);
    expect(Math.abs(perSecond(c, c.io.diskIos) / 4000 - 1)).toBeLessThan(TOLERANCE);
    expect(c.io.ebs.ioBalancePct).toBeLessThan(1);
    // "At least once every 24 hours": a day of light I/O later, the bucket is full and the burst is back.
    host.setProfile("g", "idle");
    host.catchUp(host.nowMs + 24 * 3600_000);
    expect(host.vmCounters("g").io.ebs.ioBalancePct).toBe(100);
    host.setProfile("g", { base: "io_intensive", storageLoad: load });
    host.advance(host.nowMs + 60_000);
    c = host.vmCounters("g", 60_000);
    expect(Math.abs(perSecond(c, c.io.diskIos) / 20_000 - 1)).toBeLessThan(TOLERANCE);
  });

  it("delivers an io2 volume's 64,000 IOPS on Nitro and 32,000 on a Xen family", () => {
    const io2: EbsVolume = { type: "io2", iops: 64_000 };
    // Both instances allow more than the volume: c5.24xlarge 80,000 IOPS, m4.16xlarge 65,000.
    const nitro = oneGuest("nitro", "c5.24xlarge", { base: "io_intensive", storageLoad: 1.2 }, io2).host;
    const xen = oneGuest("xen", "m4.16xlarge", { base: "io_intensive", storageLoad: 1.2 }, io2).host;
    nitro.advance(60_000);
    xen.advance(60_000);
    const n = nitro.vmCounters("g");
    const x = xen.vmCounters("g");
    expect(n.io.ebs.volume).toEqual({ type: "io2", iops: 64_000, throughputMiBps: null });
    expect(x.io.ebs.volume).toEqual({ type: "io2", iops: 32_000, throughputMiBps: null });
    expect(Math.abs(perSecond(n, n.io.diskIos) / 64_000 - 1)).toBeLessThan(TOLERANCE);
    expect(Math.abs(perSecond(x, x.io.diskIos) / 32_000 - 1)).toBeLessThan(TOLERANCE);
    for (const c of [n, x]) {
      expect(c.io.ebs.volumeIopsExceeded).toBeGreaterThan(0);
      expect(c.io.ebs.instanceIopsExceeded).toBe(0);
    }
  });

  it("lets an io2 volume provisioned beyond 64,000 IOPS run into the Nitro instance's limit, not its own", () => {
    const { host } = oneGuest(
      "nitro",
      "c5.24xlarge",
      { base: "io_intensive", storageLoad: 1.5 },
      { type: "io2", iops: 256_000 },
    );
    host.advance(30_000);
    const c = host.vmCounters("g");
    expect(c.io.ebs.volume?.iops).toBe(256_000);
    expect(Math.abs(perSecond(c, c.io.diskIos) / 80_000 - 1)).toBeLessThan(TOLERANCE);
    expect(c.io.ebs.instanceIopsExceeded).toBeGreaterThan(0);
    expect(c.io.ebs.volumeIopsExceeded).toBe(0);
  });

  it("holds a gp3 volume at its provisioned throughput", () => {
    const { host } = oneGuest(
      "nitro",
      "c5.9xlarge",
      { base: "io_intensive", storageLoad: 1, ioBytes: 256 * 1024 },
      { type: "gp3", iops: 16_000, throughputMiBps: 250 },
    );
    host.advance(30_000);
    const c = host.vmCounters("g");
    expect(Math.abs(perSecond(c, c.io.ebs.bytes) / (250 * 1024 * 1024) - 1)).toBeLessThan(0.01);
    expect(c.io.ebs.volumeThroughputExceeded).toBeGreaterThan(0);
  });

  it("refuses a volume it cannot provision", () => {
    const host = new HostCpu(host96("nitro"));
    const caps = capsOf("c5.large");
    expect(() => host.addVm("a", caps, "idle", 1, { volume: { type: "io2" } })).toThrow(/iops/);
    expect(() => host.addVm("b", caps, "idle", 1, { volume: { type: "io2", iops: 300_000 } })).toThrow(
      /io2 iops/,
    );
    expect(() =>
      host.addVm("c", caps, "idle", 1, { volume: { type: "io1", iops: 1000, throughputMiBps: 500 } }),
    ).toThrow(/throughput/);
  });
});

describe("the cards' own work", () => {
  it("keeps a Nitro card busy for a guest's I/O with no host CPU, where Xen's dom0 does the same work on host cores", () => {
    const nitro = oneGuest("nitro", "c5.2xlarge", "io_intensive").host;
    const xen = new HostCpu(host96("xen"));
    xen.addVm("g", capsOf("c5.2xlarge"), "io_intensive", 7, { mode: "pv" });
    nitro.advance(60_000);
    xen.advance(60_000);
    const n = nitro.vmCounters("g");
    const x = xen.vmCounters("g");
    expect(n.io.cardBusyMs).toBeGreaterThan(0);
    // The card moved all of them, and its time is what they take it (devices.ts).
    expect(n.io.packetsInHardware).toBe(n.io.packets);
    expect(n.io.iosInHardware).toBe(n.io.diskIos);
    expect(n.io.cardBusyMs).toBeCloseTo(
      (n.io.packets * CARD_NS_PER_PACKET + n.io.diskIos * CARD_NS_PER_IO) / 1e6,
      3,
    );
    expect(nitro.hostSummary().offload.cardBusyMs).toBe(n.io.cardBusyMs);
    // Xen's dom0 did the same work on host cores.
    expect(x.io.packets).toBeGreaterThan(0);
    expect(x.cycles.dom0).toBeGreaterThan(0);
    // More traffic, more of the card's time: twice the packets take about twice as long.
    const busier = oneGuest("nitro", "c5.2xlarge", { base: "io_intensive", networkLoad: 1.6 }).host;
    busier.advance(60_000);
    const b = busier.vmCounters("g");
    expect(b.io.cardBusyMs).toBeGreaterThan(n.io.cardBusyMs * 1.3);
  });
});

describe("allowances on Xen", () => {
  it("meters a Xen guest's SR-IOV function and ENA at its type's bandwidth, with no Nitro card time", () => {
    // c4.8xlarge: 10 Gbps on an 82599 virtual function; r4.16xlarge: 25 Gbps on ENA, both without a card.
    for (const [type, path, gbps] of [
      ["c4.8xlarge", "sriov_vf", 10],
      ["r4.16xlarge", "ena", 25],
    ] as const) {
      const { host } = oneGuest("xen", type, { base: "io_intensive", networkLoad: 2, storageLoad: 0 });
      host.advance(60_000);
      const c = host.vmCounters("g");
      const n = c.io.network;
      expect(c.io.networkPath).toBe(path);
      expect(Math.abs(perSecond(c, n.bytes.out) / bytesPerSec(gbps) - 1)).toBeLessThan(TOLERANCE);
      expect(n.bwOutAllowanceExceeded).toBeGreaterThan(0.4 * (n.packets.out + n.bwOutAllowanceExceeded));
      expect(n.throttledSeconds).toBe(60);
      // The NIC moved every packet, and no dom0 or card time went into them: dom0 did exactly what it does
      // on the same host with no guest.
      expect(c.io.packetsInHardware).toBe(c.io.packets);
      const empty = new HostCpu(host.description);
      empty.advance(60_000);
      expect(host.hostSummary().cycles.dom0).toBe(empty.hostSummary().cycles.dom0);
      expect(c.io.cardBusyMs).toBe(0);
      expect(host.hostSummary().offload.cardBusyMs).toBe(0);
    }
  });

  it("holds a split-driver guest to the lower of its type's bandwidth and what its netback thread moves", () => {
    const frames = { base: "io_intensive", packetBytes: 1500, storageLoad: 0 } as const;
    // m3.2xlarge (1 Gbps, no enhanced networking) offering twice that: its allowance binds, below netback's
    // 2.9 Gb/s (costs.ts).
    const m3 = new HostCpu(host96("xen", { xenGuestMode: "pv" }));
    m3.addVm("g", capsOf("m3.2xlarge"), { ...frames, networkLoad: 2 }, 7);
    // c4.8xlarge without its virtual function, offering 8 of its 10 Gbps: netback binds, the allowance not.
    const c4 = new HostCpu(host96("xen", { xenGuestMode: "hvm" }));
    c4.addVm("g", capsOf("c4.8xlarge"), { ...frames, networkLoad: 0.8 }, 7);
    m3.advance(60_000);
    c4.advance(60_000);
    const a = m3.vmCounters("g");
    const b = c4.vmCounters("g");
    expect([a.io.networkPath, b.io.networkPath]).toEqual(["netfront", "netfront"]);
    expect(Math.abs(perSecond(a, a.io.network.bytes.out) / bytesPerSec(1) - 1)).toBeLessThan(TOLERANCE);
    expect(a.io.network.bwOutAllowanceExceeded).toBeGreaterThan(0);
    const c4Gbps = (perSecond(b, b.io.network.bytes.out) * 8) / 1e9;
    expect(c4Gbps).toBeGreaterThan(2.9 * 0.95);
    expect(c4Gbps).toBeLessThan(2.9 * 1.05);
    expect(b.io.network.bwOutAllowanceExceeded).toBe(0);
  });
});

describe("credits survive eviction", () => {
  it("continues a burst after a JSON snapshot and restore exactly as if never evicted", () => {
    const build = () =>
      oneGuest("nitro", "c5.large", { base: "io_intensive", networkLoad: 20, storageLoad: 8 });
    const straight = build().host;
    straight.advance(600_000);
    const evicted = build().host;
    evicted.advance(200_000);
    const restored = HostCpu.restore(JSON.parse(JSON.stringify(evicted.snapshot())));
    restored.advance(600_000);
    expect(restored.vmCounters("g")).toEqual(straight.vmCounters("g"));
    expect(restored.vmCounters("g").io.network.creditBalancePct.out).toBeLessThan(100);
  });

  it("reads a snapshot from before credits were kept, with the buckets full", () => {
    const { host } = oneGuest("nitro", "c5.large", { base: "io_intensive", networkLoad: 20 });
    host.advance(120_000);
    const snap = JSON.parse(JSON.stringify(host.snapshot()));
    snap.version = 1;
    for (const v of snap.vms) delete v.credits;
    const restored = HostCpu.restore(snap);
    expect(restored.vmCounters("g").io.network.creditBalancePct.out).toBe(100);
    expect(host.vmCounters("g").io.network.creditBalancePct.out).toBeLessThan(100);
  });
});

describe("the allowances' accounts", () => {
  it("delivers plus holds back what was offered, and keeps every balance within its bucket, whatever the load", () => {
    const types = ["c5.large", "c5.2xlarge", "m5.4xlarge", "r4.xlarge", "c4.large"];
    fc.assert(
      fc.property(
        fc.record({
          type: fc.constantFrom(...types),
          profile: fc.constantFrom(...PROFILE_NAMES),
          networkLoad: fc.double({ min: 0, max: 30, noNaN: true }),
          networkInLoad: fc.double({ min: 0, max: 30, noNaN: true }),
          storageLoad: fc.double({ min: 0, max: 10, noNaN: true }),
          gap: fc.integer({ min: 1, max: 20_000 }),
          seed: fc.nat(),
        }),
        (a) => {
          const kind = a.type.startsWith("c4") || a.type.startsWith("r4") ? "xen" : "nitro";
          const host = new HostCpu(host96(kind));
          host.addVm(
            "g",
            capsOf(a.type),
            {
              base: a.profile,
              networkLoad: a.networkLoad,
              networkInLoad: a.networkInLoad,
              storageLoad: a.storageLoad,
            },
            a.seed,
          );
          host.catchUp(a.gap * 1000);
          const c = host.vmCounters("g");
          const n = c.io.network;
          const e = c.io.ebs;
          expect(n.packets.in + n.packets.out).toBe(c.io.packets);
          expect(n.bwInAllowanceExceeded + n.bwOutAllowanceExceeded + n.ppsAllowanceExceeded).toBe(
            c.io.packetsThrottled,
          );
          expect(n.bytes.out).toBeLessThanOrEqual(n.offeredBytes.out);
          expect(n.bytes.in).toBeLessThanOrEqual(n.offeredBytes.in);
          expect(
            e.instanceIopsExceeded +
              e.instanceThroughputExceeded +
              e.volumeIopsExceeded +
              e.volumeThroughputExceeded,
          ).toBe(e.offeredIos - c.io.diskIos);
          expect(e.bytes).toBeLessThanOrEqual(e.offeredBytes);
          expect(n.throttledSeconds).toBeLessThanOrEqual(c.windowMs / 1000);
          for (const p of [n.creditBalancePct.in, n.creditBalancePct.out, e.ioBalancePct, e.byteBalancePct]) {
            if (p === null) continue;
            expect(p).toBeGreaterThanOrEqual(0);
            expect(p).toBeLessThanOrEqual(100);
          }
          // Over the whole run no direction got more than its burst, nor more than its baseline plus one
          // full bucket (a byte a second of slack for the rounding of a slowed guest's counts).
          const seconds = c.windowMs / 1000;
          const base = (n.baselineGbps * 1e9) / 8;
          const bucket = n.burstGbps > n.baselineGbps ? base * NETWORK_CREDIT_SECONDS : 0;
          for (const bytes of [n.bytes.in, n.bytes.out]) {
            expect(bytes).toBeLessThanOrEqual(((n.burstGbps * 1e9) / 8 + 1) * seconds);
            expect(bytes).toBeLessThanOrEqual((base + 1) * seconds + bucket);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
