import { describe, expect, it } from "vitest";
import { addHosts, advance, call, freshZone, getInstance, hostView, launch } from "./helpers";

async function hostsHolding(hostIds: string[], instanceId: string): Promise<number> {
  let n = 0;
  for (const h of hostIds) if ((await hostView(h)).vms.some((v) => v.instanceId === instanceId)) n++;
  return n;
}

describe("races on one instance", () => {
  it("starts a stopped instance once when many starts race", async () => {
    const zone = freshZone();
    const hosts = await addHosts(zone, "m5", 3);
    const id = (await launch({ instanceType: "m5.4xlarge", availabilityZone: zone })).body.instances[0]
      .instanceId;
    await advance(60);
    await call("POST", `/v1/instances/${id}/stop`);
    await advance(60);
    const starts = await Promise.all(
      Array.from({ length: 6 }, () => call("POST", `/v1/instances/${id}/start`)),
    );
    expect(starts.some((r) => r.status === 200)).toBe(true);
    expect(starts.every((r) => r.status === 200 || r.status === 409)).toBe(true);
    expect(
      await hostsHolding(
        hosts.map((h) => h.hostId),
        id,
      ),
    ).toBe(1);
    const report = await call<{ agree: boolean }>("POST", "/v1/admin/reconcile", {});
    expect(report.body.agree).toBe(true);
  });

  it("keeps an instance on at most one host, and D1 in agreement, when a start races workload changes", async () => {
    const zone = freshZone();
    const hosts = await addHosts(zone, "m5", 2);
    const id = (await launch({ instanceType: "m5.large", availabilityZone: zone })).body.instances[0]
      .instanceId;
    await advance(60);
    await call("POST", `/v1/instances/${id}/stop`);
    await advance(60);
    const [start] = await Promise.all([
      call("POST", `/v1/instances/${id}/start`),
      call("PUT", `/v1/instances/${id}/workload`, { profile: "cpu_intensive" }),
      call("PUT", `/v1/instances/${id}/workload`, { profile: "bursty" }),
    ]);
    // Either the start won (the instance is on one host) or a workload change got there
    // first and the start was refused as changing (it is still stopped, on no host).
    expect([200, 409]).toContain(start.status);
    const inst = await getInstance(id);
    const holding = await hostsHolding(
      hosts.map((h) => h.hostId),
      id,
    );
    if (start.status === 200) {
      expect(inst.body.state.name).toBe("pending");
      expect(holding).toBe(1);
    } else {
      expect(inst.body.state.name).toBe("stopped");
      expect(holding).toBe(0);
    }
    expect((await call<{ agree: boolean }>("POST", "/v1/admin/reconcile", {})).body.agree).toBe(true);
  });
});

describe("spread placement", () => {
  it("falls back to any host with room when an even share does not fit", async () => {
    const zone = freshZone();
    const [a, b] = await addHosts(zone, "m5", 2);
    // Leave one host with room for exactly one m5.4xlarge (16 vCPUs).
    const filler = await launch({ instanceType: "m5.16xlarge", availabilityZone: zone });
    const full = filler.body.instances[0].hostId;
    await launch({
      instanceType: "m5.xlarge",
      availabilityZone: zone,
      maxCount: 4,
      placementStrategy: "binpack",
    });
    const res = await launch({
      instanceType: "m5.4xlarge",
      availabilityZone: zone,
      minCount: 4,
      maxCount: 4,
      placementStrategy: "spread",
    });
    expect(res.status).toBe(201);
    expect(res.body.instances).toHaveLength(4);
    expect(new Set(res.body.instances.map((i) => i.hostId))).toEqual(new Set([a.hostId, b.hostId]));
    expect([a.hostId, b.hostId]).toContain(full);
  });
});
