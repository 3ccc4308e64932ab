// Xen's split-driver network path, calibrated on one published figure and checked against another: a
// PV guest on a 10 GbE link held near the 2.9 Gb/s Ram et al. (VEE 2009) measured before their
// optimizations; the receive path's per-packet cost cut by 56% (Santos et al., USENIX ATC 2008) raising
// that ceiling in proportion; and an HVM guest with an SR-IOV function reaching line rate without dom0.
import { describe, expect, it } from "vitest";
import {
  DEFAULT_COSTS,
  type GuestMode,
  HostCpu,
  type HostDescription,
  type InstanceCaps,
  type WorkloadSpec,
} from "../../../src/sim/cpu";

const LINK_GBPS = 10;
const FRAME_BYTES = 1500;
const SECONDS = 60;

/** A guest with a 10 GbE link and vCPUs to spare, so the link or the path to it is the limit. */
const TEN_GBE: InstanceCaps = {
  vcpus: 8,
  memoryMiB: 16384,
  networkGbps: LINK_GBPS,
  ebsMbps: 4750,
  ebsIops: 20000,
};
/** A bulk stream of full-size frames offered above line rate, and nothing else on the wire or disk. */
const STREAM: WorkloadSpec = {
  base: "io_intensive",
  networkLoad: 1.2,
  packetBytes: FRAME_BYTES,
  storageLoad: 0,
};

function run(mode: GuestMode, extra: Partial<HostDescription> = {}, sriov = false) {
  const host = new HostCpu({
    kind: "xen",
    sockets: 2,
    coresPerSocket: 18,
    threadsPerCore: 2,
    dom0: { vcpus: 8 },
    xenGuestMode: mode,
    ...extra,
    optimizations: { sriov, ...extra.optimizations },
  });
  host.addVm("guest", TEN_GBE, STREAM, 7);
  host.advance(SECONDS * 1000);
  const c = host.vmCounters("guest");
  const hz = host.freqHz;
  // The same host with no guest: dom0's own upkeep, whatever the guests do.
  const empty = new HostCpu(host.description);
  empty.advance(SECONDS * 1000);
  return {
    dom0ForGuests: host.hostSummary().cycles.dom0 - empty.hostSummary().cycles.dom0,
    gbps: (c.io.packets * FRAME_BYTES * 8) / SECONDS / 1e9,
    dom0ThreadsBusy: c.cycles.dom0 / SECONDS / hz,
    guestVcpusBusy: (c.cycles.guest + c.cycles.hypervisor) / SECONDS / hz,
    counters: c,
  };
}

describe("the split-driver network path", () => {
  it("holds a PV guest on a 10 GbE link near the 2.9 Gb/s Ram et al. measured, with dom0's netback thread the limit", () => {
    const pv = run("pv");
    expect(pv.counters.io.networkPath).toBe("netfront");
    expect(pv.gbps).toBeGreaterThan(2.9 * 0.95);
    expect(pv.gbps).toBeLessThan(2.9 * 1.05);
    // Why: the vif's one netback thread is saturated while the guest's own vCPUs have room.
    expect(pv.dom0ThreadsBusy).toBeGreaterThan(0.98);
    expect(pv.dom0ThreadsBusy).toBeLessThanOrEqual(1.0001);
    expect(pv.guestVcpusBusy).toBeLessThan(TEN_GBE.vcpus / 2);
    // More dom0 vCPUs do not help one vif; more netback queues do (the multi-queue direction Ram et al. took).
    expect(run("pv", { dom0: { vcpus: 16 } }).gbps).toBeCloseTo(pv.gbps, 1);
    expect(run("pv", { dom0: { vcpus: 8, netbackQueues: 2 } }).gbps).toBeGreaterThan(pv.gbps * 1.8);
  });

  it("raises that ceiling in proportion when the receive path's per-packet cost falls by 56% (Santos et al.)", () => {
    const before = run("pv").gbps;
    const after = run("pv", {
      costs: { netbackPerPacket: DEFAULT_COSTS.netbackPerPacket * (1 - 0.56) },
    }).gbps;
    const predicted = 2.9 / (1 - 0.56);
    expect(after).toBeGreaterThan(predicted * 0.95);
    expect(after).toBeLessThan(predicted * 1.05);
    expect(after / before).toBeGreaterThan(2);
  });

  it("lets the same guest as HVM with an SR-IOV function reach line rate without dom0", () => {
    const pv = run("pv", {}, true);
    const vf = run("hvm", {}, true);
    // SR-IOV is for HVM guests: the PV guest stays on netfront even on a host that offers it.
    expect(pv.counters.io.networkPath).toBe("netfront");
    expect(vf.counters.io.networkPath).toBe("sriov_vf");
    expect(vf.gbps).toBeGreaterThan(LINK_GBPS * 0.99);
    expect(vf.gbps).toBeLessThanOrEqual(LINK_GBPS);
    expect(vf.counters.io.packetsInHardware).toBe(vf.counters.io.packets);
    // dom0 worked no more for the VF guest's line rate than with no guest at all; the PV guest's netback
    // work is all of what dom0 did beyond its upkeep.
    expect(vf.dom0ForGuests).toBe(0);
    expect(pv.dom0ForGuests).toBeGreaterThan(0);
    expect(pv.dom0ForGuests).toBe(pv.counters.cycles.dom0);
    // The offered load above line rate is throttled at the link, not lost in dom0.
    expect(vf.counters.io.packetsThrottled).toBeGreaterThan(0);
  });
});
