import { describe, expect, it } from "vitest";
import { addHosts, advance, call, freshZone, getInstance, hostView, launch, type Problem } from "./helpers";
import { allSteps, driveSteps } from "./migration-driver";

interface EvacuationBody {
  evacuationId: string;
  hostId: string;
  total: number;
  completed: number;
  failed: number;
  inProgress: number;
  done: boolean;
  migrations: {
    migrationId: string;
    instanceId: string;
    status: string;
    destinationHostId: string | null;
    reason: string | null;
  }[];
  skipped: { instanceId: string; reason: string }[];
}

async function finishAll(migrationIds: string[]) {
  await driveSteps(allSteps(migrationIds));
}

async function fill(zone: string, type: string, count: number) {
  const res = await launch({ instanceType: type, availabilityZone: zone, minCount: count, maxCount: count });
  expect(res.status).toBe(201);
  await advance(900);
  const hostIds = new Set(res.body.instances.map((i) => i.hostId));
  expect(hostIds.size).toBe(1);
  return { ids: res.body.instances.map((i) => i.instanceId), hostId: [...hostIds][0]! };
}

describe("host evacuation", () => {
  it("moves every instance of a full Xen host onto the rest of its family and leaves it empty, in maintenance", async () => {
    const zone = freshZone();
    const hosts = await addHosts(zone, "m4", 3);
    // Four m4.4xlarge fill an m4 host's 64 guest vCPUs.
    const { ids, hostId } = await fill(zone, "m4.4xlarge", 4);
    expect((await hostView(hostId)).usage.capacity.vcpus.free).toBe(0);

    const res = await call<EvacuationBody>("POST", `/v1/hosts/${hostId}/evacuate`, {});
    expect(res.status).toBe(202);
    expect(res.body.total).toBe(4);
    expect(res.body.skipped).toEqual([]);
    expect((await hostView(hostId)).host.state).toBe("maintenance");

    await finishAll(res.body.migrations.map((m) => m.migrationId));
    const after = await call<EvacuationBody>("GET", `/v1/evacuations/${res.body.evacuationId}`);
    expect(after.body).toMatchObject({ total: 4, completed: 4, failed: 0, inProgress: 0, done: true });
    const evacuated = await hostView(hostId);
    expect(evacuated.vms).toHaveLength(0);
    expect(evacuated.heldCount).toBe(0);
    const others = hosts.map((h) => h.hostId).filter((h) => h !== hostId);
    for (const id of ids) {
      const inst = (await getInstance(id)).body;
      expect(others).toContain(inst.hostId);
      expect(inst.state.name).toBe("running");
    }
    // Xen's rules ran each one.
    const m = await call<{ policy: string; rounds: unknown[] }>(
      "GET",
      `/v1/migrations/${res.body.migrations[0].migrationId}`,
    );
    expect(m.body.policy).toBe("xen");
    expect(m.body.rounds.length).toBeGreaterThan(0);
  });

  it("moves what fits and leaves the rest running where it was when the family is out of room", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 2);
    const a = await fill(zone, "m5.12xlarge", 2);
    const b = await fill(zone, "m5.12xlarge", 1);
    expect(b.hostId).not.toBe(a.hostId);
    const res = await call<EvacuationBody>("POST", `/v1/hosts/${a.hostId}/evacuate`, {});
    expect(res.status).toBe(202);
    await finishAll(res.body.migrations.map((m) => m.migrationId));
    const after = (await call<EvacuationBody>("GET", `/v1/evacuations/${res.body.evacuationId}`)).body;
    expect(after).toMatchObject({ total: 2, completed: 1, failed: 1, done: true });
    const failed = after.migrations.find((m) => m.status === "failed")!;
    expect(failed.reason).toMatch(/InsufficientInstanceCapacity/);
    expect((await getInstance(failed.instanceId)).body.hostId).toBe(a.hostId);
    expect((await hostView(a.hostId)).heldCount).toBe(0);
    expect((await hostView(b.hostId)).heldCount).toBe(0);
  });

  it("leaves instances with instance store unless their loss is accepted, and refuses a failed host", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5d", 2);
    const { ids, hostId } = await fill(zone, "m5d.large", 1);
    const res = await call<EvacuationBody>("POST", `/v1/hosts/${hostId}/evacuate`, {});
    expect(res.body.total).toBe(0);
    expect(res.body.skipped).toEqual([
      { instanceId: ids[0], reason: expect.stringMatching(/instance store/) },
    ]);
    await call("PUT", `/v1/hosts/${hostId}/state`, { state: "failed" });
    const refused = await call<Problem>("POST", `/v1/hosts/${hostId}/evacuate`, {});
    expect(refused.status).toBe(409);
    const bad = await call<Problem>("POST", `/v1/hosts/${hostId}/evacuate`, {
      acceptInstanceStoreLoss: "yes",
    });
    expect(bad.status).toBe(400);
  });
});
