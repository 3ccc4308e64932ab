// A stopped instance launched for a dedicated host starts on its account's dedicated hosts again (the one
// it named, when it named one), never on a shared host; and an allocation that fails part-way leaves no
// host claimed.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { findInstanceType } from "../../src/sim/catalog";
import {
  addHosts,
  advance,
  bearer,
  call,
  freshZone,
  type InstanceBody,
  launch,
  newTenant,
  type Problem,
  type Tenant,
} from "./helpers";

const as = (t: Tenant) => bearer(t.apiKey);

interface StateChange {
  currentState: { name: string };
}

async function allocate(t: Tenant, body: Record<string, unknown>) {
  return call<{ hostIds: string[] } & Problem>("POST", "/v1/dedicated-hosts", body, as(t));
}

async function stopped(t: Tenant, id: string) {
  const res = await call<StateChange & Problem>("POST", `/v1/instances/${id}/stop`, undefined, as(t));
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  await advance(60);
  expect((await getInstance(t, id)).body.state.name).toBe("stopped");
}

async function start(t: Tenant, id: string) {
  return call<StateChange & Problem>("POST", `/v1/instances/${id}/start`, undefined, as(t));
}

const getInstance = (t: Tenant, id: string) =>
  call<InstanceBody & { tenancy: string } & Problem>("GET", `/v1/instances/${id}`, undefined, as(t));

async function tenancyRow(id: string) {
  return env.DB.prepare("SELECT tenancy, host_affinity FROM instances WHERE id = ?")
    .bind(id)
    .first<{ tenancy: string; host_affinity: string | null }>();
}

describe("a stopped instance of a dedicated host", () => {
  it("starts on the host it named, with a shared host free beside it; with no room there it stays stopped", async () => {
    const zone = freshZone();
    const hosts = await addHosts(zone, "m5", 2);
    const a = await newTenant("dh-restart");
    const [dh] = (await allocate(a, { availabilityZone: zone, instanceFamily: "m5" })).body.hostIds;
    const shared = hosts.find((h) => h.hostId !== dh)!;
    const l = await launch({ instanceType: "m5.large", hostId: dh }, as(a));
    expect(l.status).toBe(201);
    const id = l.body.instances[0].instanceId;
    expect(await tenancyRow(id)).toEqual({ tenancy: "host", host_affinity: dh });
    await advance(60);

    await stopped(a, id);
    const s = await start(a, id);
    expect(s.status, JSON.stringify(s.body)).toBe(200);
    await advance(60);
    const back = (await getInstance(a, id)).body;
    expect(back.state.name).toBe("running");
    expect(back.hostId).toBe(dh);
    expect(back.hostId).not.toBe(shared.hostId);
    expect(l.body.instances[0]).toMatchObject({ tenancy: "host" });
    expect(back).toMatchObject({ tenancy: "host" });

    // The host fills with the account's other instances while this one is stopped: the start has nowhere
    // to go (the shared host does not count), so it fails and the instance stays stopped.
    await stopped(a, id);
    const free = shared.capacity.vcpus.free;
    const fits = Math.floor(free / findInstanceType("m5.large")!.vcpus);
    const fill = await launch(
      { instanceType: "m5.large", hostId: dh, minCount: fits, maxCount: fits },
      as(a),
    );
    expect(fill.status, JSON.stringify(fill.body)).toBe(201);
    const full = await start(a, id);
    expect(full.status).toBe(409);
    expect(full.body.code).toBe("InsufficientHostCapacity");
    expect(full.body.detail).toContain(dh);
    const after = (await getInstance(a, id)).body;
    expect(after.state.name).toBe("stopped");
    expect(after.hostId).toBeNull();
    // Room again: the start goes through (the failed one left no claim behind).
    const del = await call("DELETE", `/v1/instances/${fill.body.instances[0].instanceId}`, undefined, as(a));
    expect(del.status).toBe(200);
    await advance(60);
    const again = await start(a, id);
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    await advance(60);
    expect((await getInstance(a, id)).body.hostId).toBe(dh);
  });

  it("with auto-placement starts on one of the account's dedicated hosts, never a shared one", async () => {
    const zone = freshZone();
    const hosts = await addHosts(zone, "m5", 3);
    const a = await newTenant("dh-restart-auto");
    const own = (
      await allocate(a, { availabilityZone: zone, instanceFamily: "m5", autoPlacement: "on", quantity: 2 })
    ).body.hostIds;
    expect(own).toHaveLength(2);
    const shared = hosts.map((h) => h.hostId).filter((h) => !own.includes(h));
    const l = await launch(
      { instanceType: "m5.large", availabilityZone: zone, tenancy: "host", maxCount: 4 },
      as(a),
    );
    expect(l.status).toBe(201);
    const ids = l.body.instances.map((i) => i.instanceId);
    for (const id of ids) expect(await tenancyRow(id)).toEqual({ tenancy: "host", host_affinity: null });
    // A plain launch keeps the default tenancy.
    const plain = await launch({ instanceType: "m5.large", availabilityZone: zone }, as(a));
    expect(plain.body.instances[0]).toMatchObject({ tenancy: "default" });
    expect(await tenancyRow(plain.body.instances[0].instanceId)).toEqual({
      tenancy: "default",
      host_affinity: null,
    });
    await advance(60);
    for (const id of ids) await stopped(a, id);
    for (const id of ids) expect((await start(a, id)).status).toBe(200);
    await advance(60);
    for (const id of ids) {
      const i = (await getInstance(a, id)).body;
      expect(i.state.name).toBe("running");
      expect(own).toContain(i.hostId);
      expect(shared).not.toContain(i.hostId);
    }
  });
});

describe("an allocation that fails part-way", () => {
  it("gives back every host it took and keeps no claim", async () => {
    const zone = freshZone();
    const hosts = (await addHosts(zone, "m5", 2)).map((h) => h.hostId).sort();
    const a = await newTenant("dh-undo");
    // The second host's object fails to take its owner, after the first host was dedicated.
    const broken = hosts[1];
    await runInDurableObject(env.HOST.getByName(broken), (_obj, state) => {
      state.storage.sql.exec(
        "CREATE TRIGGER injected_fault BEFORE INSERT ON host_tenancy BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
      );
    });
    const failed = await allocate(a, { availabilityZone: zone, instanceFamily: "m5", quantity: 2 });
    expect(failed.status).toBeGreaterThanOrEqual(500);
    const claims = await env.DB.prepare(
      `SELECT host_id FROM dedicated_hosts WHERE host_id IN ('${hosts[0]}', '${hosts[1]}')`,
    ).all();
    expect(claims.results).toEqual([]);
    for (const h of hosts) {
      const owner = await runInDurableObject(env.HOST.getByName(h), (_obj, state) =>
        state.storage.sql.exec("SELECT account_id FROM host_tenancy").toArray(),
      );
      expect(owner, h).toEqual([]);
    }
    // Both hosts take shared launches again, and once the fault is gone both can be allocated.
    const b = await newTenant("dh-undo-b");
    const shared = await launch({ instanceType: "m5.large", availabilityZone: zone, maxCount: 2 }, as(b));
    expect(shared.status).toBe(201);
    for (const i of shared.body.instances)
      await call("DELETE", `/v1/instances/${i.instanceId}`, undefined, as(b));
    await advance(60);
    await runInDurableObject(env.HOST.getByName(broken), (_obj, state) => {
      state.storage.sql.exec("DROP TRIGGER injected_fault");
    });
    const ok = await allocate(a, { availabilityZone: zone, instanceFamily: "m5", quantity: 2 });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect(ok.body.hostIds.sort()).toEqual(hosts);
  });
});
