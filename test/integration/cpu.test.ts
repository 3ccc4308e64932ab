import { describe, expect, it } from "vitest";
import { CARD_NS_PER_IO, CARD_NS_PER_PACKET } from "../../src/sim/cpu/devices";
import { addHosts, advance, call, freshZone, launch, type Problem } from "./helpers";

interface Cpu {
  overheadPct: number;
  stealPct: number;
  totalExits: number;
  windowMs: number;
  vmExits: Record<string, number>;
  vmEntries: Record<string, number>;
  hypercalls: Record<string, number>;
  cycles: Record<string, number>;
  io: { packets: number; packetsInHardware: number; diskIos: number; cardBusyMs: number };
}

describe("CPU virtualization through the API", () => {
  it("shows an I/O-bound guest costing its Nitro host little and its Xen host's dom0 much", async () => {
    const zone = freshZone();
    const [nitroHost] = await addHosts(zone, "m5", 1);
    const [xenHost] = await addHosts(zone, "m3", 1);
    const nitro = (
      await launch({ instanceType: "m5.2xlarge", availabilityZone: zone, workload: "io_intensive" })
    ).body.instances[0];
    // A paravirtual guest, whose network and disks both go through dom0's back ends.
    const xen = (
      await launch({
        instanceType: "m3.2xlarge",
        availabilityZone: zone,
        workload: "io_intensive",
        virtualizationType: "paravirtual",
      })
    ).body.instances[0];
    await advance(120);

    const n = await call<Cpu>("GET", `/v1/instances/${nitro.instanceId}/cpu?windowSeconds=60`);
    const x = await call<Cpu>("GET", `/v1/instances/${xen.instanceId}/cpu?windowSeconds=60`);
    expect(n.status).toBe(200);
    expect(n.body.windowMs).toBe(60_000);
    expect(n.body.overheadPct).toBeLessThan(2);
    expect(x.body.overheadPct).toBeGreaterThan(5 * n.body.overheadPct);
    // Where Xen's overhead comes from: dom0's back ends and the guest's hypercalls.
    expect(x.body.cycles.dom0).toBeGreaterThan(0);
    // The Nitro guest's went to its cards instead: every packet and I/O, each at the card's own time.
    const cardMs = (n.body.io.packets * CARD_NS_PER_PACKET + n.body.io.diskIos * CARD_NS_PER_IO) / 1e6;
    expect(n.body.io.packets).toBeGreaterThan(0);
    expect(n.body.io.packetsInHardware).toBe(n.body.io.packets);
    expect(n.body.io.cardBusyMs).toBeCloseTo(cardMs, 3);
    expect(Object.values(x.body.hypercalls).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    // Every exit is matched by an entry.
    expect(n.body.vmEntries).toEqual(n.body.vmExits);

    const nh = await call<{ virtualization: { hypervisorOverheadPct: number } }>(
      "GET",
      `/v1/hosts/${nitroHost.hostId}`,
    );
    const xh = await call<{ virtualization: { hypervisorOverheadPct: number } }>(
      "GET",
      `/v1/hosts/${xenHost.hostId}`,
    );
    expect(nh.body.virtualization.hypervisorOverheadPct).toBeLessThan(2);
    expect(xh.body.virtualization.hypervisorOverheadPct).toBeGreaterThan(
      nh.body.virtualization.hypervisorOverheadPct,
    );
  });

  it("switches a running guest's workload and keeps it across a stop and start", async () => {
    const zone = freshZone();
    await addHosts(zone, "c5", 1);
    const inst = (await launch({ instanceType: "c5.xlarge", availabilityZone: zone, workload: "idle" })).body
      .instances[0];
    await advance(90);
    const idle = await call<Cpu>("GET", `/v1/instances/${inst.instanceId}/cpu?windowSeconds=30`);
    const set = await call<{ workload: unknown }>("PUT", `/v1/instances/${inst.instanceId}/workload`, {
      profile: "cpu_intensive",
    });
    expect(set.status).toBe(200);
    expect(set.body.workload).toBe("cpu_intensive");
    await advance(60);
    const busy = await call<Cpu>("GET", `/v1/instances/${inst.instanceId}/cpu?windowSeconds=30`);
    expect(busy.body.cycles.guest).toBeGreaterThan(5 * idle.body.cycles.guest);

    await call("POST", `/v1/instances/${inst.instanceId}/stop`);
    await advance(60);
    const stopped = await call<Problem>("GET", `/v1/instances/${inst.instanceId}/cpu`);
    expect(stopped.status).toBe(409);
    expect(stopped.body.code).toBe("IncorrectInstanceState");
    const custom = { base: "io_intensive", utilization: 0.5, networkLoad: 0.8 };
    expect((await call("PUT", `/v1/instances/${inst.instanceId}/workload`, { profile: custom })).status).toBe(
      200,
    );
    await call("POST", `/v1/instances/${inst.instanceId}/start`);
    const restarted = await call<{ workload: unknown }>("GET", `/v1/instances/${inst.instanceId}`);
    expect(restarted.body.workload).toEqual(custom);
  });

  it("runs the same guest on a hosted (Type 2) hypervisor at a higher cost than on Nitro", async () => {
    const zone = freshZone();
    const other = freshZone();
    const [hosted] = await addHosts(zone, "m5", 1, { hypervisor: "type2" });
    await addHosts(other, "m5", 1);
    const onHosted = (
      await launch({ instanceType: "m5.2xlarge", availabilityZone: zone, workload: "io_intensive" })
    ).body.instances[0];
    const onNitro = (
      await launch({ instanceType: "m5.2xlarge", availabilityZone: other, workload: "io_intensive" })
    ).body.instances[0];
    expect(onHosted.hostId).toBe(hosted.hostId);
    await advance(120);
    const h = await call<Cpu & { hypervisor: string }>("GET", `/v1/instances/${onHosted.instanceId}/cpu`);
    const n = await call<Cpu & { hypervisor: string }>("GET", `/v1/instances/${onNitro.instanceId}/cpu`);
    expect(h.body.hypervisor).toBe("type2");
    expect(h.body.overheadPct).toBeGreaterThan(n.body.overheadPct);
    const host = await call<{ hypervisor: string; virtualization: { cycles: Record<string, number> } }>(
      "GET",
      `/v1/hosts/${hosted.hostId}`,
    );
    expect(host.body.hypervisor).toBe("type2");
    // The host OS beneath takes cycles of its own.
    expect(host.body.virtualization.cycles.hostOs).toBeGreaterThan(0);
  });

  it("refuses a workload it cannot run, naming the field", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const inst = (await launch({ instanceType: "m5.large", availabilityZone: zone })).body.instances[0];
    const res = await call<Problem>("PUT", `/v1/instances/${inst.instanceId}/workload`, {
      profile: { utilization: 1.5 },
    });
    expect(res.status).toBe(400);
    expect(res.body.detail).toContain("body.profile");
    const window = await call<Problem>("GET", `/v1/instances/${inst.instanceId}/cpu?windowSeconds=0`);
    expect(window.status).toBe(400);
    expect(window.body.detail).toContain("query.windowSeconds");
  });
});

describe("optimizations", () => {
  it("recommends from trial runs of the model: SR-IOV for I/O on Xen, ballooning only when memory is short", async () => {
    const res = await call<{
      optimizations: Record<string, boolean>;
      effects: Record<string, { offPct: number; onPct: number; recommended: boolean }>;
    }>("GET", "/v1/recommendations?hypervisor=xen&workload=io_intensive");
    expect(res.status).toBe(200);
    expect(res.body.optimizations.sriov).toBe(true);
    // The recommendation is the measured effect, not a table: on is cheaper than off.
    expect(res.body.effects.sriov.onPct).toBeLessThan(res.body.effects.sriov.offPct);
    // Ballooning depends on the situation, not on a table: off with room, on when overcommitted.
    const roomy = await call<{ optimizations: Record<string, boolean> }>(
      "GET",
      "/v1/recommendations?hypervisor=xen&workload=memory_intensive&memoryOvercommit=1",
    );
    const short = await call<{ optimizations: Record<string, boolean> }>(
      "GET",
      "/v1/recommendations?hypervisor=xen&workload=memory_intensive&memoryOvercommit=2.5",
    );
    expect(roomy.body.optimizations.ballooning).toBe(false);
    expect(short.body.optimizations.ballooning).toBe(true);
    const bad = await call<Problem>("GET", "/v1/recommendations?hypervisor=vmware&workload=io_intensive");
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toContain("query.hypervisor");
  });

  it("lowers a Xen host's dom0 cost for an I/O-bound guest when the host turns SR-IOV on", async () => {
    const plainZone = freshZone();
    const sriovZone = freshZone();
    // m4 hosts give their HVM guests a virtual function unless told not to, as EC2 did.
    const [plainHost] = await addHosts(plainZone, "m4", 1, { optimizations: { sriov: false } });
    const [sriovHost] = await addHosts(sriovZone, "m4", 1);
    const plain = (
      await launch({ instanceType: "m4.2xlarge", availabilityZone: plainZone, workload: "io_intensive" })
    ).body.instances[0];
    const fast = (
      await launch({ instanceType: "m4.2xlarge", availabilityZone: sriovZone, workload: "io_intensive" })
    ).body.instances[0];
    await advance(90);
    const a = await call<Cpu>("GET", `/v1/instances/${plain.instanceId}/cpu`);
    const b = await call<Cpu>("GET", `/v1/instances/${fast.instanceId}/cpu`);
    expect(b.body.cycles.dom0).toBeLessThan(a.body.cycles.dom0);
    const host = await call<{ virtualization: { optimizations: Record<string, boolean> } }>(
      "GET",
      `/v1/hosts/${sriovHost.hostId}`,
    );
    expect(host.body.virtualization.optimizations.sriov).toBe(true);
    const off = await call<{ virtualization: { optimizations: Record<string, boolean> } }>(
      "GET",
      `/v1/hosts/${plainHost.hostId}`,
    );
    expect(off.body.virtualization.optimizations.sriov).toBe(false);
  });
});
