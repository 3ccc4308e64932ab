// Tenant isolation: every instance carries its account, and another account's instance is
// not found, never listed, never changed; hosts show a tenant only its own VMs.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  ADMIN_KEY,
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

async function launchAs(t: Tenant, body: Record<string, unknown>): Promise<InstanceBody> {
  const res = await launch(body, as(t));
  if (res.status !== 201) throw new Error(`launch failed: ${JSON.stringify(res.body)}`);
  return res.body.instances[0];
}

interface HostDetail {
  instances: { instanceId: string }[];
  otherInstances: number;
  capacity: { vms: number };
}

interface HostMemory {
  owners: { vmId: string; frames: number }[];
  ownerCount: number;
  otherOwners: { vms: number; frames: number; bytes: number };
}

describe("instances belong to the account that launched them", () => {
  it("answers another account's instance as not found on every read and action, and changes nothing", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const a = await newTenant("a");
    const b = await newTenant("b");
    const theirs = await launchAs(b, {
      instanceType: "m5.large",
      availabilityZone: zone,
      tags: { team: "b" },
    });
    await advance(60);
    const before = await call<InstanceBody & { version?: number }>(
      "GET",
      `/v1/instances/${theirs.instanceId}`,
      undefined,
      as(b),
    );
    expect(before.body.state.name).toBe("running");

    const missing = await call<Problem>("GET", "/v1/instances/i-0123456789abcdef0", undefined, as(a));
    const id = theirs.instanceId;
    const attempts: [string, string, unknown][] = [
      ["GET", `/v1/instances/${id}`, undefined],
      ["POST", `/v1/instances/${id}/stop`, undefined],
      ["POST", `/v1/instances/${id}/reboot`, undefined],
      ["POST", `/v1/instances/${id}/start`, undefined],
      ["DELETE", `/v1/instances/${id}`, undefined],
      ["PUT", `/v1/instances/${id}/workload`, { profile: "cpu_intensive" }],
      ["GET", `/v1/instances/${id}/cpu`, undefined],
      ["GET", `/v1/instances/${id}/memory`, undefined],
      ["POST", `/v1/instances/${id}/memory/translate`, { address: "0x7f0000401000" }],
    ];
    for (const [method, path, body] of attempts) {
      const res = await call<Problem>(method, path, body, as(a));
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.code).toBe("InvalidInstanceID.NotFound");
      // Word for word the answer about an instance that does not exist, but for the id.
      expect(res.body.detail.replace(id, "i-0123456789abcdef0")).toBe(missing.body.detail);
    }
    const after = await call<InstanceBody>("GET", `/v1/instances/${id}`, undefined, as(b));
    expect(after.body).toEqual(before.body);
  });

  it("never lists another account's instances, whatever the filter", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "m5", 1);
    const a = await newTenant("a");
    const b = await newTenant("b");
    const mine = await launchAs(a, { instanceType: "m5.large", availabilityZone: zone, tags: { team: "x" } });
    const theirs = await launchAs(b, {
      instanceType: "m5.large",
      availabilityZone: zone,
      tags: { team: "x" },
    });
    for (const q of [
      "limit=1000",
      `availabilityZone=${zone}`,
      `hostId=${host.hostId}`,
      "tag=team=x",
      "instanceType=m5.large&state=pending,running",
    ]) {
      const ids = (
        await call<{ instances: InstanceBody[] }>("GET", `/v1/instances?${q}`, undefined, as(a))
      ).body.instances.map((i) => i.instanceId);
      expect(ids, q).toContain(mine.instanceId);
      expect(ids, q).not.toContain(theirs.instanceId);
    }
    // The admin reads every account's.
    const all = await call<{ instances: InstanceBody[] }>(
      "GET",
      `/v1/instances?availabilityZone=${zone}`,
      undefined,
      bearer(ADMIN_KEY),
    );
    expect(all.body.instances.map((i) => i.instanceId).sort()).toEqual(
      [mine.instanceId, theirs.instanceId].sort(),
    );
  });

  it("keeps a stopped instance, which only D1 holds, as much its owner's as a running one", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const a = await newTenant("a");
    const b = await newTenant("b");
    const theirs = await launchAs(b, { instanceType: "m5.large", availabilityZone: zone });
    await advance(60);
    expect((await call("POST", `/v1/instances/${theirs.instanceId}/stop`, undefined, as(b))).status).toBe(
      200,
    );
    await advance(60);
    const stopped = await call<InstanceBody>("GET", `/v1/instances/${theirs.instanceId}`, undefined, as(b));
    expect(stopped.body.state.name).toBe("stopped");
    for (const [method, path, body] of [
      ["POST", `/v1/instances/${theirs.instanceId}/start`, undefined],
      ["DELETE", `/v1/instances/${theirs.instanceId}`, undefined],
      ["PUT", `/v1/instances/${theirs.instanceId}/workload`, { profile: "idle" }],
    ] as const) {
      expect((await call(method, path, body, as(a))).status, `${method} ${path}`).toBe(404);
    }
    expect(
      (await call<InstanceBody>("GET", `/v1/instances/${theirs.instanceId}`, undefined, as(b))).body,
    ).toEqual(stopped.body);
  });

  it("scopes client tokens to the account: two accounts may use the same token", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const a = await newTenant("a");
    const b = await newTenant("b");
    const token = "deploy-42";
    const first = await launch(
      { instanceType: "m5.large", availabilityZone: zone, clientToken: token },
      as(a),
    );
    // Other parameters under the same token: for another account, simply another launch.
    const other = await launch(
      { instanceType: "m5.xlarge", availabilityZone: zone, clientToken: token },
      as(b),
    );
    expect(first.status).toBe(201);
    expect(other.status).toBe(201);
    expect(other.body.reservationId).not.toBe(first.body.reservationId);
    // Each account's retry answers with its own launch.
    const againA = await launch(
      { instanceType: "m5.large", availabilityZone: zone, clientToken: token },
      as(a),
    );
    const againB = await launch(
      { instanceType: "m5.xlarge", availabilityZone: zone, clientToken: token },
      as(b),
    );
    expect(againA.body.reservationId).toBe(first.body.reservationId);
    expect(againB.body.reservationId).toBe(other.body.reservationId);
    // And a mismatch is still one within an account.
    const mismatch = await launch(
      { instanceType: "m5.xlarge", availabilityZone: zone, clientToken: token },
      as(a),
    );
    expect(mismatch.status).toBe(409);
    expect(mismatch.body.code).toBe("IdempotentParameterMismatch");
  });

  it("shows a tenant only the events about its own instances", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const a = await newTenant("a");
    const b = await newTenant("b");
    const mine = await launchAs(a, { instanceType: "m5.large", availabilityZone: zone });
    const theirs = await launchAs(b, { instanceType: "m5.large", availabilityZone: zone });
    await advance(60);
    type Events = { events: { instanceId: string | null; hostId: string | null }[] };
    const seen = (await call<Events>("GET", "/v1/events?limit=1000", undefined, as(a))).body.events;
    expect(seen.some((e) => e.instanceId === mine.instanceId)).toBe(true);
    expect(seen.every((e) => e.instanceId !== null)).toBe(true);
    expect(seen.some((e) => e.instanceId === theirs.instanceId)).toBe(false);
    const asked = await call<Events>("GET", `/v1/events?instanceId=${theirs.instanceId}`, undefined, as(a));
    expect(asked.body.events).toEqual([]);
    const admin = await call<Events>(
      "GET",
      `/v1/events?instanceId=${theirs.instanceId}`,
      undefined,
      bearer(ADMIN_KEY),
    );
    expect(admin.body.events.length).toBeGreaterThan(0);
  });
});

describe("hosts as a tenant sees them", () => {
  it("shows the host of a tenant's instance with only its own VMs by name and the rest counted", async () => {
    const zone = freshZone();
    const [shared] = await addHosts(zone, "m5", 1);
    const otherZone = freshZone();
    const [theirsOnly] = await addHosts(otherZone, "m5", 1);
    const a = await newTenant("a");
    const b = await newTenant("b");
    const mine = await launchAs(a, { instanceType: "m5.large", availabilityZone: zone });
    const theirs = await launchAs(b, { instanceType: "m5.large", availabilityZone: zone, maxCount: 2 });
    await launchAs(b, { instanceType: "m5.large", availabilityZone: otherZone });
    await advance(60);

    const view = await call<HostDetail>("GET", `/v1/hosts/${shared.hostId}`, undefined, as(a));
    expect(view.status).toBe(200);
    expect(view.body.instances.map((i) => i.instanceId)).toEqual([mine.instanceId]);
    expect(view.body.otherInstances).toBe(2);
    expect(view.body.capacity.vms).toBe(3);
    expect(JSON.stringify(view.body)).not.toContain(theirs.instanceId);
    const operator = await call<HostDetail>(
      "GET",
      `/v1/hosts/${shared.hostId}`,
      undefined,
      bearer(ADMIN_KEY),
    );
    expect(operator.body.instances).toHaveLength(3);
    expect(operator.body.otherInstances).toBe(0);

    // A host with none of the tenant's instances is not found, and is not listed.
    const hidden = await call<Problem>("GET", `/v1/hosts/${theirsOnly.hostId}`, undefined, as(a));
    expect(hidden.status).toBe(404);
    expect(hidden.body.code).toBe("InvalidHostID.NotFound");
    expect((await call("GET", `/v1/hosts/${theirsOnly.hostId}/memory`, undefined, as(a))).status).toBe(404);
    const listed = await call<{ hosts: { hostId: string }[] }>(
      "GET",
      "/v1/hosts?limit=1000",
      undefined,
      as(a),
    );
    expect(listed.body.hosts.map((h) => h.hostId)).toEqual([shared.hostId]);
  });

  it("stops showing a tenant a host once none of its instances occupies it", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "m5", 1);
    const a = await newTenant("a");
    const b = await newTenant("b");
    const gone = await launchAs(a, { instanceType: "m5.large", availabilityZone: zone });
    await launchAs(b, { instanceType: "m5.large", availabilityZone: zone });
    await advance(60);
    expect((await call("GET", `/v1/hosts/${host.hostId}`, undefined, as(a))).status).toBe(200);
    expect((await call("DELETE", `/v1/instances/${gone.instanceId}`, undefined, as(a))).status).toBe(200);
    await advance(60);
    // The terminated row still names the host it last ran on; that is no window onto its neighbours.
    const view = await call<Problem>("GET", `/v1/hosts/${host.hostId}`, undefined, as(a));
    expect(view.status).toBe(404);
    expect((await call("GET", `/v1/hosts/${host.hostId}/memory`, undefined, as(a))).status).toBe(404);
    const listed = await call<{ hosts: { hostId: string }[] }>(
      "GET",
      "/v1/hosts?limit=1000",
      undefined,
      as(a),
    );
    expect(listed.body.hosts.map((h) => h.hostId)).not.toContain(host.hostId);
  });

  it("names only the caller's VMs among the host's memory owners, and sums the others", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "m5", 1);
    const a = await newTenant("a");
    const b = await newTenant("b");
    const mine = await launchAs(a, { instanceType: "m5.large", availabilityZone: zone });
    const theirs = await launchAs(b, { instanceType: "m5.large", availabilityZone: zone });
    await advance(60);
    for (const [t, id] of [
      [a, mine.instanceId],
      [b, theirs.instanceId],
    ] as const) {
      const res = await call(
        "POST",
        `/v1/instances/${id}/memory/translate`,
        { address: "0x7f0000401000" },
        as(t),
      );
      expect(res.status).toBe(200);
    }
    const seen = await call<HostMemory>("GET", `/v1/hosts/${host.hostId}/memory`, undefined, as(a));
    expect(seen.body.owners.map((o) => o.vmId)).toEqual([mine.instanceId]);
    expect(seen.body.ownerCount).toBe(1);
    expect(seen.body.otherOwners.vms).toBe(1);
    expect(seen.body.otherOwners.frames).toBeGreaterThan(0);
    expect(JSON.stringify(seen.body)).not.toContain(theirs.instanceId);
    const operator = await call<HostMemory>(
      "GET",
      `/v1/hosts/${host.hostId}/memory`,
      undefined,
      bearer(ADMIN_KEY),
    );
    expect(operator.body.owners.map((o) => o.vmId).sort()).toEqual(
      [mine.instanceId, theirs.instanceId].sort(),
    );
    expect(operator.body.ownerCount).toBe(2);
    expect(operator.body.otherOwners.vms).toBe(0);
  });
});

describe("the owner in D1 and in the host object", () => {
  it("writes the account to D1 with the instance, and reconcile finds and repairs a wrong one", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const a = await newTenant("a");
    const b = await newTenant("b");
    const mine = await launchAs(a, { instanceType: "m5.large", availabilityZone: zone });
    const row = await env.DB.prepare("SELECT account_id FROM instances WHERE id = ?")
      .bind(mine.instanceId)
      .first();
    expect(row?.account_id).toBe(a.accountId);
    // Hand the row to another account behind the fleet's back: B must not gain it for good.
    await env.DB.prepare("UPDATE instances SET account_id = ? WHERE id = ?")
      .bind(b.accountId, mine.instanceId)
      .run();
    type Reconcile = { agree: boolean; mismatches: { instanceId: string | null; kind: string }[] };
    const found = await call<Reconcile>("POST", "/v1/admin/reconcile", { repair: true });
    expect(found.body.mismatches).toContainEqual(
      expect.objectContaining({ instanceId: mine.instanceId, kind: "stale-in-d1" }),
    );
    const fixed = await env.DB.prepare("SELECT account_id FROM instances WHERE id = ?")
      .bind(mine.instanceId)
      .first();
    expect(fixed?.account_id).toBe(a.accountId);
    expect((await call<Reconcile>("POST", "/v1/admin/reconcile", {})).body.agree).toBe(true);
    expect((await call("GET", `/v1/instances/${mine.instanceId}`, undefined, as(a))).status).toBe(200);
  });
});
