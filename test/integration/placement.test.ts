import { describe, expect, it } from "vitest";
import { addHosts, advance, call, freshZone, hostView, launch } from "./helpers";

describe("placement", () => {
  it("packs instances onto the fullest host by default", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 3);
    const res = await launch({ instanceType: "m5.large", availabilityZone: zone, maxCount: 3 });
    expect(res.status).toBe(201);
    expect(new Set(res.body.instances.map((i) => i.hostId)).size).toBe(1);
    // A second launch joins the host already in use rather than an empty one.
    const next = await launch({ instanceType: "m5.large", availabilityZone: zone });
    expect(next.body.instances[0].hostId).toBe(res.body.instances[0].hostId);
  });

  it("spreads instances over hosts when asked", async () => {
    const zone = freshZone();
    const hosts = await addHosts(zone, "m5", 3);
    const res = await launch({
      instanceType: "m5.large",
      availabilityZone: zone,
      maxCount: 3,
      placementStrategy: "spread",
    });
    expect(res.status).toBe(201);
    expect(new Set(res.body.instances.map((i) => i.hostId))).toEqual(new Set(hosts.map((h) => h.hostId)));
  });

  it("places only on hosts of the instance's family and in the asked zone", async () => {
    const zone = freshZone();
    const other = freshZone();
    const [c5] = await addHosts(zone, "c5", 1);
    await addHosts(zone, "m5", 1);
    await addHosts(other, "c5", 1);
    const res = await launch({ instanceType: "c5.2xlarge", availabilityZone: zone, maxCount: 2 });
    expect(res.body.instances.map((i) => i.hostId)).toEqual([c5.hostId, c5.hostId]);
    expect(res.body.instances.every((i) => i.availabilityZone === zone)).toBe(true);
  });

  it("skips hosts that are not available", async () => {
    const zone = freshZone();
    const [a, b] = await addHosts(zone, "m5", 2);
    const hostA = a.hostId < b.hostId ? a : b;
    const hostB = hostA === a ? b : a;
    expect((await call("PUT", `/v1/hosts/${hostA.hostId}/state`, { state: "maintenance" })).status).toBe(200);
    const res = await launch({ instanceType: "m5.large", availabilityZone: zone, maxCount: 2 });
    expect(res.body.instances.every((i) => i.hostId === hostB.hostId)).toBe(true);
  });

  it("answers InsufficientInstanceCapacity naming the zones that do have capacity", async () => {
    const zone = freshZone();
    const spare = freshZone();
    await addHosts(zone, "r5", 1);
    await addHosts(spare, "r5", 1);
    expect((await launch({ instanceType: "r5.24xlarge", availabilityZone: zone })).status).toBe(201);
    const res = await launch({ instanceType: "r5.large", availabilityZone: zone });
    expect(res.status).toBe(503);
    expect(res.body.code).toBe("InsufficientInstanceCapacity");
    expect(res.headers.get("retry-after")).toBeTruthy();
    expect(res.body.zonesWithCapacity).toContain(spare);
    expect(res.body.detail).toContain(spare);
  });

  it("launches as many as fit between minCount and maxCount", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 3);
    const res = await launch({
      instanceType: "m5.24xlarge",
      availabilityZone: zone,
      minCount: 2,
      maxCount: 10,
    });
    expect(res.status).toBe(201);
    expect(res.body.instances).toHaveLength(3);
  });

  it("launches nothing and holds nothing when fewer than minCount fit", async () => {
    const zone = freshZone();
    const hosts = await addHosts(zone, "m5", 3);
    const res = await launch({
      instanceType: "m5.24xlarge",
      availabilityZone: zone,
      minCount: 4,
      maxCount: 4,
      tags: { probe: zone },
    });
    expect(res.status).toBe(503);
    expect(res.body.code).toBe("InsufficientInstanceCapacity");
    for (const h of hosts) {
      const view = await hostView(h.hostId);
      expect(view.usage.capacity.vcpus.used).toBe(0);
      expect(view.heldIds).toEqual([]);
    }
    const listed = await call<{ instances: unknown[] }>("GET", `/v1/instances?tag=probe=${zone}`);
    expect(listed.body.instances).toEqual([]);
    // The capacity really is all there: the three that fit launch at once.
    expect(
      (await launch({ instanceType: "m5.24xlarge", availabilityZone: zone, minCount: 3, maxCount: 3 }))
        .status,
    ).toBe(201);
  });

  it("pins a VM's vCPUs to whole cores on one socket, never sharing a thread", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "c5", 1);
    const res = await launch({ instanceType: "c5.4xlarge", availabilityZone: zone, maxCount: 6 });
    expect(res.body.instances).toHaveLength(6);
    const seen = new Set<number>();
    for (const i of res.body.instances) {
      expect(i.cpuPinning).toHaveLength(16);
      // 48 threads per socket on this host: every vCPU of one VM on the same socket.
      expect(new Set(i.cpuPinning.map((t) => Math.floor(t / 48))).size).toBe(1);
      for (const t of i.cpuPinning) {
        expect(seen.has(t)).toBe(false);
        seen.add(t);
      }
    }
    expect((await hostView(host.hostId)).usage.capacity.vcpus.free).toBe(0);
  });

  it("keeps dom0's cores and memory out of a Xen host's capacity", async () => {
    const zone = freshZone();
    const [xen] = await addHosts(zone, "m4", 1);
    const view = await hostView(xen.hostId);
    expect(view.host.hypervisor).toBe("xen");
    expect(view.usage.capacity.vcpus.reserved).toBeGreaterThan(0);
    expect(view.usage.capacity.memoryMiB.reserved).toBeGreaterThan(0);
    const [nitro] = await addHosts(zone, "m5", 1);
    expect((await hostView(nitro.hostId)).usage.capacity.vcpus.reserved).toBe(0);
    // The largest m4 fits exactly once beside dom0, and nothing else does.
    expect((await launch({ instanceType: "m4.16xlarge", availabilityZone: zone })).status).toBe(201);
    expect((await launch({ instanceType: "m4.large", availabilityZone: zone })).status).toBe(503);
  });
});

describe("host failure", () => {
  it("stops the running instances of a failed host, terminates the ones still launching, and lets them start elsewhere", async () => {
    const zone = freshZone();
    const [a, b] = await addHosts(zone, "m5", 2);
    const first = a.hostId < b.hostId ? a : b;
    const running = await launch({ instanceType: "m5.xlarge", availabilityZone: zone, maxCount: 2 });
    expect(running.body.instances.every((i) => i.hostId === first.hostId)).toBe(true);
    await advance(60);
    const launching = (await launch({ instanceType: "m5.xlarge", availabilityZone: zone })).body.instances[0];
    expect(launching.hostId).toBe(first.hostId);

    expect((await call("PUT", `/v1/hosts/${first.hostId}/state`, { state: "failed" })).status).toBe(200);
    for (const i of running.body.instances) {
      const now = await call<{
        state: { name: string };
        hostId: string | null;
        stateTransitionReason: string;
      }>("GET", `/v1/instances/${i.instanceId}`);
      expect(now.body.state.name).toBe("stopped");
      expect(now.body.hostId).toBeNull();
      expect(now.body.stateTransitionReason).toContain("Server.InternalError");
    }
    const lost = await call<{ state: { name: string } }>("GET", `/v1/instances/${launching.instanceId}`);
    expect(lost.body.state.name).toBe("terminated");
    expect((await hostView(first.hostId)).usage.capacity.vcpus.used).toBe(0);

    // A stopped instance starts again on a host that works.
    const again = await call("POST", `/v1/instances/${running.body.instances[0].instanceId}/start`);
    expect(again.status).toBe(200);
    const moved = await call<{ hostId: string }>(
      "GET",
      `/v1/instances/${running.body.instances[0].instanceId}`,
    );
    expect(moved.body.hostId).not.toBe(first.hostId);
    expect((await call<{ agree: boolean }>("POST", "/v1/admin/reconcile", {})).body.agree).toBe(true);
  });

  it("stops, rather than terminates, an instance that was starting again when its host failed", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "m5", 1);
    const id = (await launch({ instanceType: "m5.large", availabilityZone: zone })).body.instances[0]
      .instanceId;
    await advance(60);
    await call("POST", `/v1/instances/${id}/stop`);
    await advance(60);
    await call("POST", `/v1/instances/${id}/start`);
    expect((await call<{ state: { name: string } }>("GET", `/v1/instances/${id}`)).body.state.name).toBe(
      "pending",
    );
    await call("PUT", `/v1/hosts/${host.hostId}/state`, { state: "failed" });
    expect((await call<{ state: { name: string } }>("GET", `/v1/instances/${id}`)).body.state.name).toBe(
      "stopped",
    );
  });
});
