import { describe, expect, it } from "vitest";
import type { SendAnswer } from "../../src/fleet/network-send";
import { CLUSTER_SINGLE_FLOW_GBPS, SINGLE_FLOW_GBPS } from "../../src/sim/network/path";
import {
  addHosts,
  advance,
  bearer,
  call,
  freshZone,
  launch,
  newTenant,
  type Problem,
  type Tenant,
} from "./helpers";

const as = (t: Tenant) => bearer(t.apiKey);

interface Launched {
  instanceId: string;
  hostId: string | null;
  placementGroup: { groupId: string; groupName: string; partitionNumber: number | null } | null;
}

async function group(t: Tenant, body: Record<string, unknown>) {
  const res = await call<{ groupId: string; groupName: string; strategy: string } & Problem>(
    "POST",
    "/v1/placement-groups",
    body,
    as(t),
  );
  if (res.status !== 201) throw new Error(JSON.stringify(res.body));
  return res.body;
}

async function run(t: Tenant, body: Record<string, unknown>) {
  const res = await launch({ instanceType: "m5.large", ...body }, as(t));
  return res as unknown as { status: number; body: { instances: Launched[] } & Problem };
}

const racks = new Map<string, string>();
/** The rack of a host, as the admin sees it. */
async function rackOf(hostId: string): Promise<string> {
  if (!racks.has(hostId)) {
    const res = await call<{ rack: string }>("GET", `/v1/hosts/${hostId}`);
    racks.set(hostId, res.body.rack);
  }
  return racks.get(hostId)!;
}

async function hostsIn(zone: string, layout: Record<string, number>, extra: Record<string, unknown> = {}) {
  for (const [rack, n] of Object.entries(layout))
    await addHosts(zone, "m5", n, { rack: `${zone}-${rack}`, ...extra });
}

describe("placement groups", () => {
  it("spread: puts each instance on a rack of its own, and refuses one more with InsufficientInstanceCapacity naming the group", async () => {
    const t = await newTenant("pg-spread");
    const zone = freshZone();
    await hostsIn(zone, { r1: 2, r2: 1, r3: 1 });
    const g = await group(t, { groupName: "web", strategy: "spread" });
    const res = await run(t, {
      availabilityZone: zone,
      minCount: 3,
      maxCount: 3,
      placementGroup: { groupName: "web" },
    });
    expect(res.status).toBe(201);
    const rs = await Promise.all(res.body.instances.map((i) => rackOf(i.hostId!)));
    expect(new Set(rs).size).toBe(3);
    for (const i of res.body.instances) {
      expect(i.placementGroup).toEqual({ groupId: g.groupId, groupName: "web", partitionNumber: null });
    }
    // r1 has a free host, but the group already holds a place on r1.
    const more = await run(t, { availabilityZone: zone, placementGroup: { groupName: "web" } });
    expect(more.status).toBe(503);
    expect(more.body.code).toBe("InsufficientInstanceCapacity");
    expect(more.body.detail).toMatch(/placement group 'web'/);
    // The same launch outside the group fits.
    expect((await run(t, { availabilityZone: zone })).status).toBe(201);
    // Once a member terminates its rack is free again.
    await call("DELETE", `/v1/instances/${res.body.instances[0].instanceId}`, undefined, as(t));
    await advance(120);
    const again = await run(t, { availabilityZone: zone, placementGroup: { groupName: "web" } });
    expect(again.status).toBe(201);
    expect(await rackOf(again.body.instances[0].hostId!)).toBe(rs[0]);
    const shown = await call<{ instanceCount: number; strategy: string }>(
      "GET",
      "/v1/placement-groups/web",
      undefined,
      as(t),
    );
    expect(shown.body).toMatchObject({ strategy: "spread", instanceCount: 3 });
  });

  it("partition: gives partitions racks of their own, spreads unnumbered launches over the partitions, and refuses a partition the group lacks", async () => {
    const t = await newTenant("pg-partition");
    const zone = freshZone();
    await hostsIn(zone, { r1: 1, r2: 1, r3: 1 });
    await group(t, { groupName: "hdfs", strategy: "partition", partitionCount: 2 });
    const p1 = await run(t, {
      availabilityZone: zone,
      maxCount: 2,
      placementGroup: { groupName: "hdfs", partitionNumber: 1 },
    });
    expect(p1.status).toBe(201);
    expect(p1.body.instances.map((i) => i.placementGroup?.partitionNumber)).toEqual([1, 1]);
    const p2 = await run(t, {
      availabilityZone: zone,
      maxCount: 2,
      placementGroup: { groupName: "hdfs", partitionNumber: 2 },
    });
    expect(p2.status).toBe(201);
    const r1 = new Set(await Promise.all(p1.body.instances.map((i) => rackOf(i.hostId!))));
    const r2 = new Set(await Promise.all(p2.body.instances.map((i) => rackOf(i.hostId!))));
    expect([...r1].some((r) => r2.has(r))).toBe(false);
    // Without a number: the partitions each get their share.
    const auto = await run(t, { availabilityZone: zone, maxCount: 4, placementGroup: { groupName: "hdfs" } });
    expect(auto.status).toBe(201);
    expect(auto.body.instances.map((i) => i.placementGroup!.partitionNumber).sort()).toEqual([1, 1, 2, 2]);
    const bad = await run(t, {
      availabilityZone: zone,
      placementGroup: { groupName: "hdfs", partitionNumber: 3 },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/body\.placementGroup\.partitionNumber/);
    const described = await call<{ instances: Launched[] }>(
      "GET",
      `/v1/instances/${auto.body.instances[0].instanceId}`,
      undefined,
      as(t),
    );
    expect(described.body).toMatchObject({ placementGroup: { groupName: "hdfs" } });
  });

  it("cluster: keeps the group on one rack, and a send between its members crosses one switch at the cluster's single-flow limit", async () => {
    const t = await newTenant("pg-cluster");
    const zone = freshZone();
    // One m5.12xlarge a host (192 GiB of 195 GiB), so that two members are on two hosts of a rack.
    await hostsIn(zone, { r1: 2, r2: 1, r3: 1 }, { memoryMiB: 200_000 });
    await group(t, { groupName: "hpc", strategy: "cluster" });
    await group(t, { groupName: "apart", strategy: "spread" });
    const c = await run(t, {
      instanceType: "m5.12xlarge",
      availabilityZone: zone,
      minCount: 2,
      maxCount: 2,
      placementGroup: { groupName: "hpc" },
    });
    expect(c.status).toBe(201);
    const [ca, cb] = c.body.instances;
    expect(ca.hostId).not.toBe(cb.hostId);
    expect(await rackOf(ca.hostId!)).toBe(await rackOf(cb.hostId!));
    // The rack is full now: the cluster has nowhere to grow, though r2 and r3 have room.
    const grow = await run(t, {
      instanceType: "m5.12xlarge",
      availabilityZone: zone,
      placementGroup: { groupName: "hpc" },
    });
    expect(grow.status).toBe(503);
    expect(grow.body.detail).toMatch(/placement group 'hpc'.*one rack/);
    const s = await run(t, {
      instanceType: "m5.12xlarge",
      availabilityZone: zone,
      minCount: 2,
      maxCount: 2,
      placementGroup: { groupName: "apart" },
    });
    expect(s.status).toBe(201);
    await advance(120);
    const body = { protocol: "tcp", port: 5201, bytes: 100_000_000 };
    const near = await call<SendAnswer>(
      "POST",
      `/v1/instances/${ca.instanceId}/network/send`,
      { ...body, destination: { instanceId: cb.instanceId } },
      as(t),
    );
    const far = await call<SendAnswer>(
      "POST",
      `/v1/instances/${s.body.instances[0].instanceId}/network/send`,
      { ...body, destination: { instanceId: s.body.instances[1].instanceId } },
      as(t),
    );
    expect(near.body).toMatchObject({
      delivered: true,
      placementGroup: { groupName: "hpc", strategy: "cluster" },
    });
    expect(far.body).toMatchObject({
      delivered: true,
      placementGroup: { groupName: "apart", strategy: "spread" },
    });
    expect(near.body.transfer!.hops).toBe(1);
    expect(far.body.transfer!.hops).toBe(3);
    expect(near.body.transfer!.latencyUs).toBeLessThan(far.body.transfer!.latencyUs);
    expect(near.body.transfer!.ceilingsGbps["single-flow"]).toBe(CLUSTER_SINGLE_FLOW_GBPS);
    expect(far.body.transfer!.ceilingsGbps["single-flow"]).toBe(SINGLE_FLOW_GBPS);
    expect(near.body.transfer!.throughputGbps).toBeGreaterThan(far.body.transfer!.throughputGbps);
  });

  it("refuses bad groups by field, deletes a group only when empty, and keeps each account's groups its own", async () => {
    const t = await newTenant("pg-rules");
    const zone = freshZone();
    await hostsIn(zone, { r1: 1 });
    const bad = async (body: Record<string, unknown>, field: string) => {
      const res = await call<Problem>("POST", "/v1/placement-groups", body, as(t));
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body)).toContain(field);
    };
    await bad({ groupName: "p", strategy: "partition", partitionCount: 8 }, "body.partitionCount");
    await bad({ groupName: "p", strategy: "partition" }, "body.partitionCount");
    await bad({ groupName: "s", strategy: "spread", partitionCount: 2 }, "body.partitionCount");
    await bad({ groupName: "x", strategy: "ring" }, "strategy");
    await group(t, { groupName: "g1", strategy: "cluster" });
    const dup = await call<Problem>(
      "POST",
      "/v1/placement-groups",
      { groupName: "g1", strategy: "spread" },
      as(t),
    );
    expect(dup.body.code).toBe("InvalidPlacementGroup.Duplicate");
    const unknown = await run(t, { availabilityZone: zone, placementGroup: { groupName: "nope" } });
    expect(unknown.body.code).toBe("InvalidPlacementGroup.NotFound");
    const nonPartition = await run(t, {
      availabilityZone: zone,
      placementGroup: { groupName: "g1", partitionNumber: 1 },
    });
    expect(nonPartition.status).toBe(400);

    const other = await newTenant("pg-other");
    expect((await call("GET", "/v1/placement-groups/g1", undefined, as(other))).status).toBe(404);
    expect((await call("DELETE", "/v1/placement-groups/g1", undefined, as(other))).status).toBe(404);
    expect((await run(other, { availabilityZone: zone, placementGroup: { groupName: "g1" } })).status).toBe(
      404,
    );
    // Another account may use the same name for a group of its own.
    await group(other, { groupName: "g1", strategy: "spread" });

    const inside = await run(t, { availabilityZone: zone, placementGroup: { groupName: "g1" } });
    expect(inside.status).toBe(201);
    const busy = await call<Problem>("DELETE", "/v1/placement-groups/g1", undefined, as(t));
    expect(busy.status).toBe(409);
    expect(busy.body.code).toBe("InvalidPlacementGroup.InUse");
    await call("DELETE", `/v1/instances/${inside.body.instances[0].instanceId}`, undefined, as(t));
    await advance(120);
    const gone = await call<{ state: string }>("DELETE", "/v1/placement-groups/g1", undefined, as(t));
    expect(gone.status).toBe(200);
    expect(gone.body.state).toBe("deleted");
    const list = await call<{ placementGroups: { groupName: string }[] }>(
      "GET",
      "/v1/placement-groups",
      undefined,
      as(t),
    );
    expect(list.body.placementGroups.map((g) => g.groupName)).toEqual([]);
  });
});
