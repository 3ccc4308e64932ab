// Evacuating a host: into maintenance, every running instance live-migrated to the rest of its family
// within the room there is; what cannot move stays, and the evacuation says why.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { OPERATOR } from "../../src/fleet/accounts";
import { Fleet } from "../../src/fleet/context";
import { evacuateHost } from "../../src/fleet/evacuations";
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
  state: string;
  moved: { instanceId: string; migrationId: string; destinationHostId: string }[];
  notMoved: { instanceId: string; migrationId: string | null; reason: string }[];
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
    expect(after.body.state).toBe("completed");
    expect(after.body.moved.map((m) => m.instanceId).sort()).toEqual([...ids].sort());
    expect(after.body.notMoved).toEqual([]);
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
    expect(after.state).toBe("incomplete");
    expect(after.notMoved).toEqual([
      {
        instanceId: failed.instanceId,
        migrationId: failed.migrationId,
        reason: expect.stringMatching(/its migration failed: InsufficientInstanceCapacity/),
      },
    ]);
    expect(after.moved.map((m) => m.instanceId)).toEqual(
      after.migrations.filter((m) => m.status === "completed").map((m) => m.instanceId),
    );
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
  it("says exactly which instances moved and which did not and why when one cannot start and one is cancelled, and leaves nothing reserved", async () => {
    const zone = freshZone();
    const hosts = await addHosts(zone, "m5", 3);
    const ids = hosts.map((h) => h.hostId);
    const { ids: instanceIds, hostId } = await fill(zone, "m5.2xlarge", 3);
    const [busy, cancelled, moves] = instanceIds;
    // One is already migrating on its own when the evacuation begins: its migration cannot start.
    const own = await call<{ migrationId: string }>("POST", `/v1/instances/${busy}/migrate`, {});
    expect(own.status).toBe(202);
    const res = await call<EvacuationBody>("POST", `/v1/hosts/${hostId}/evacuate`, {});
    expect(res.status).toBe(202);
    expect(res.body.state).toBe("in-progress");
    expect(res.body.skipped).toEqual([
      { instanceId: busy, reason: expect.stringMatching(/already being migrated/) },
    ]);
    const ofCancelled = res.body.migrations.find((m) => m.instanceId === cancelled)!;
    expect((await call("POST", `/v1/migrations/${ofCancelled.migrationId}/cancel`)).status).toBe(200);
    await finishAll([own.body.migrationId, ...res.body.migrations.map((m) => m.migrationId)]);

    const after = (await call<EvacuationBody>("GET", `/v1/evacuations/${res.body.evacuationId}`)).body;
    expect(after.state).toBe("incomplete");
    expect(after.done).toBe(true);
    expect(after.moved).toEqual([
      { instanceId: moves, migrationId: expect.any(String), destinationHostId: expect.any(String) },
    ]);
    expect(after.notMoved).toEqual(
      expect.arrayContaining([
        { instanceId: busy, migrationId: null, reason: expect.stringMatching(/already being migrated/) },
        {
          instanceId: cancelled,
          migrationId: ofCancelled.migrationId,
          reason: expect.stringMatching(/cancelled: cancelled by the caller/),
        },
      ]),
    );
    expect(after.notMoved).toHaveLength(2);
    // Every instance runs on exactly one host: the moved one where the evacuation says, the cancelled
    // one where it was; and no host holds a reservation.
    for (const id of instanceIds) {
      const on: string[] = [];
      for (const h of ids) if ((await hostView(h)).vms.some((v) => v.instanceId === id)) on.push(h);
      expect(on).toHaveLength(1);
      expect((await getInstance(id)).body.state.name).toBe("running");
      if (id === moves) expect(on[0]).toBe(after.moved[0].destinationHostId);
      if (id === cancelled) expect(on[0]).toBe(hostId);
    }
    for (const h of ids) expect((await hostView(h)).heldCount).toBe(0);
  });

  it("names the instances an evacuation stopped before reaching as not moved", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 2);
    const { ids: instanceIds, hostId } = await fill(zone, "m5.2xlarge", 2);
    // An evacuation whose request stopped after it recorded its instances, before any migration.
    const now = (await call<{ nowMs: number }>("GET", "/v1/clock")).body.nowMs;
    const id = "evac-0123456789abcdef0";
    await env.DB.prepare(
      "INSERT INTO evacuations (id, host_id, skipped, created_at, instance_ids, state) VALUES (?, ?, '[]', ?, ?, 'starting')",
    )
      .bind(id, hostId, now, JSON.stringify(instanceIds))
      .run();
    const view = (await call<EvacuationBody>("GET", `/v1/evacuations/${id}`)).body;
    expect(view.state).toBe("starting");
    expect(view.done).toBe(false);
    expect(view.moved).toEqual([]);
    expect(view.notMoved.map((n) => n.instanceId).sort()).toEqual([...instanceIds].sort());
    expect(view.notMoved[0].reason).toMatch(/has not started its migration/);
  });
  it("names an instance admitted between its first look at the host and the host's maintenance", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 2);
    const { ids: first, hostId } = await fill(zone, "m5.2xlarge", 2);
    // A launch lands on the host after the evacuation read what was there, just before the host
    // went into maintenance: the evacuation must still name it.
    const fleet = new Fleet(env, OPERATOR);
    const real = fleet.host.bind(fleet);
    let late = "";
    fleet.host = ((id: string) => {
      const stub = real(id);
      if (id !== hostId) return stub;
      return new Proxy(stub, {
        get(target, prop) {
          if (prop === "setState")
            return async (...args: Parameters<typeof stub.setState>) => {
              const res = await launch({ instanceType: "m5.large", availabilityZone: zone });
              expect(res.status).toBe(201);
              expect(res.body.instances[0].hostId).toBe(hostId);
              late = res.body.instances[0].instanceId;
              return target.setState(...args);
            };
          const value = Reflect.get(target, prop);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
    }) as typeof fleet.host;
    const evac = await evacuateHost(fleet, hostId, {});
    expect(late).not.toBe("");
    const view = (await call<EvacuationBody>("GET", `/v1/evacuations/${evac.evacuationId}`)).body;
    // Each instance named once: the two running ones migrating, the late one staying with its reason.
    const named = [...view.migrations, ...view.skipped].map((m) => m.instanceId);
    expect(named.sort()).toEqual([...first, late].sort());
    expect(view.notMoved.find((n) => n.instanceId === late)?.reason).toMatch(/pending|running|migrat/);
  });
});
