// Dedicated Hosts: an account takes an empty host of a family in a zone; its launches for a dedicated
// host land there (by name, or by auto-placement when on), and no other account's instance ever does,
// not even when the shared hosts are full or a placement offers the host from a stale view.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { OPERATOR } from "../../src/fleet/accounts";
import { Fleet } from "../../src/fleet/context";
import { findInstanceType } from "../../src/sim/catalog";
import { offeredInstance } from "../../src/sim/records";
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

interface DedicatedHost {
  hostId: string;
  accountId: string;
  availabilityZone: string;
  instanceFamily: string;
  autoPlacement: string;
  instances: { instanceId: string }[];
}

const as = (t: Tenant) => bearer(t.apiKey);

async function allocate(t: Tenant, body: Record<string, unknown>) {
  return call<{ hostIds: string[]; hosts: DedicatedHost[] } & Problem>(
    "POST",
    "/v1/dedicated-hosts",
    body,
    as(t),
  );
}

describe("dedicated hosts", () => {
  it("take an empty host for one account: its launches by host id land there, and no other account's ever does", async () => {
    const zone = freshZone();
    const both = await addHosts(zone, "m5", 2);
    const a = await newTenant("dh-a");
    const b = await newTenant("dh-b");
    const got = await allocate(a, { availabilityZone: zone, instanceFamily: "m5" });
    expect(got.status).toBe(201);
    expect(got.body.hostIds).toHaveLength(1);
    const [dh] = got.body.hostIds;
    const shared = both.find((h) => h.hostId !== dh)!;
    expect(got.body.hosts[0]).toMatchObject({
      hostId: dh,
      accountId: a.accountId,
      availabilityZone: zone,
      instanceFamily: "m5",
      autoPlacement: "off",
      instances: [],
    });
    // Another account does not see it at all.
    expect((await call("GET", `/v1/dedicated-hosts/${dh}`, undefined, as(b))).status).toBe(404);
    expect(
      (await call<{ hosts: unknown[] }>("GET", "/v1/dedicated-hosts", undefined, as(b))).body.hosts,
    ).toEqual([]);

    // B fills the shared host; the next launch finds no capacity rather than A's empty host.
    const free = shared.capacity.vcpus.free;
    const perInstance = findInstanceType("m5.large")!.vcpus;
    const fits = Math.floor(free / perInstance);
    const fill = await launch(
      { instanceType: "m5.large", availabilityZone: zone, minCount: fits, maxCount: fits },
      as(b),
    );
    expect(fill.status).toBe(201);
    expect(fill.body.instances.every((i) => i.hostId === shared.hostId)).toBe(true);
    const more = await launch({ instanceType: "m5.large", availabilityZone: zone }, as(b));
    expect(more.status).toBe(503);
    expect(more.body.code).toBe("InsufficientInstanceCapacity");
    // Nor may B name it.
    const named = await launch({ instanceType: "m5.large", hostId: dh }, as(b));
    expect(named.status).toBe(400);
    expect(named.body.code).toBe("InvalidHostID.NotFound");
    // A's own shared launch does not go there either.
    const aShared = await launch({ instanceType: "m5.large", availabilityZone: zone }, as(a));
    expect(aShared.status).toBe(503);

    // A's launch naming the host lands on it, in its zone without naming one.
    const mine = await launch({ instanceType: "m5.large", hostId: dh, minCount: 2, maxCount: 2 }, as(a));
    expect(mine.status).toBe(201);
    expect(mine.body.instances.map((i) => i.hostId)).toEqual([dh, dh]);
    expect(mine.body.instances[0].availabilityZone).toBe(zone);
    const view = await call<DedicatedHost>("GET", `/v1/dedicated-hosts/${dh}`, undefined, as(a));
    expect(view.body.instances.map((i) => i.instanceId).sort()).toEqual(
      mine.body.instances.map((i) => i.instanceId).sort(),
    );
    // Another family's type does not fit it.
    const c5 = await launch({ instanceType: "c5.large", hostId: dh }, as(a));
    expect(c5.status).toBe(400);
    expect(c5.body.detail).toContain("m5");
  });

  it("is judged by the host itself: an offer from a view that missed the allocation is refused", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const a = await newTenant("dh-judge-a");
    const b = await newTenant("dh-judge-b");
    const [dh] = (await allocate(a, { availabilityZone: zone, instanceType: "m5.large" })).body.hostIds;
    const type = findInstanceType("m5.large")!;
    const offer = (accountId: string, id: string) =>
      offeredInstance(type, { instanceId: id, accountId, reservationId: "r-0123456789abcdef0", zone });
    const clock = await new Fleet(env, OPERATOR).clock();
    const stub = env.HOST.getByName(dh);
    // A shared launch (B's, or A's own) is refused; A's launch for a dedicated host is taken.
    const shared = await stub.admit([offer(b.accountId, "i-00000000000000b01")], 1, clock);
    expect(shared.result).toEqual([]);
    const own = await stub.admit([offer(a.accountId, "i-00000000000000a01")], 1, clock);
    expect(own.result).toEqual([]);
    const bHost = await stub.admit([offer(b.accountId, "i-00000000000000b02")], 1, clock, "host");
    expect(bHost.result).toEqual([]);
    const aHost = await stub.admit([offer(a.accountId, "i-00000000000000a02")], 1, clock, "host");
    expect(aHost.result).toEqual(["i-00000000000000a02"]);
    await stub.cancel(["i-00000000000000a02"], clock);
  });

  it("auto-places the account's launches for a dedicated host only on hosts with auto-placement on", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 2);
    const a = await newTenant("dh-auto");
    const off = (await allocate(a, { availabilityZone: zone, instanceFamily: "m5" })).body.hostIds[0];
    const none = await launch({ instanceType: "m5.large", availabilityZone: zone, tenancy: "host" }, as(a));
    expect(none.status).toBe(503);
    const on = (await allocate(a, { availabilityZone: zone, instanceFamily: "m5", autoPlacement: "on" })).body
      .hostIds[0];
    expect(on).not.toBe(off);
    const l = await launch(
      { instanceType: "m5.large", availabilityZone: zone, tenancy: "host", maxCount: 3 },
      as(a),
    );
    expect(l.status).toBe(201);
    expect(l.body.instances.every((i) => i.hostId === on)).toBe(true);
  });

  it("is released only without instances, and then takes anyone's again", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const a = await newTenant("dh-release-a");
    const b = await newTenant("dh-release-b");
    const [dh] = (await allocate(a, { availabilityZone: zone, instanceFamily: "m5" })).body.hostIds;
    const i = (await launch({ instanceType: "m5.large", hostId: dh }, as(a))).body.instances[0].instanceId;
    const busy = await call<{ released: string[]; failed: { hostId: string; code: string }[] }>(
      "POST",
      "/v1/dedicated-hosts/release",
      { hostIds: [dh] },
      as(a),
    );
    expect(busy.body.released).toEqual([]);
    expect(busy.body.failed).toEqual([expect.objectContaining({ hostId: dh, code: "IncorrectState" })]);
    // B cannot release it; to B it does not exist.
    const stranger = await call<{ failed: { code: string }[] }>(
      "POST",
      "/v1/dedicated-hosts/release",
      { hostIds: [dh] },
      as(b),
    );
    expect(stranger.body.failed[0].code).toBe("InvalidHostID.NotFound");
    const del = await call("DELETE", `/v1/instances/${i}`, undefined, as(a));
    expect(del.status, JSON.stringify(del.body)).toBe(200);
    await advance(60);
    const done = await call<{ released: string[] }>(
      "POST",
      "/v1/dedicated-hosts/release",
      { hostIds: [dh] },
      as(a),
    );
    expect(done.body.released).toEqual([dh]);
    expect((await call("GET", `/v1/dedicated-hosts/${dh}`, undefined, as(a))).status).toBe(404);
    const bl = await launch({ instanceType: "m5.large", availabilityZone: zone }, as(b));
    expect(bl.status).toBe(201);
    expect(bl.body.instances[0].hostId).toBe(dh);
  });

  it("answers for every host it can, or none: InsufficientHostCapacity, and bad input naming the field", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 2);
    const a = await newTenant("dh-bad");
    const tooMany = await allocate(a, { availabilityZone: zone, instanceFamily: "m5", quantity: 3 });
    expect(tooMany.status).toBe(503);
    expect(tooMany.body.code).toBe("InsufficientHostCapacity");
    // Nothing was kept: both hosts are still free to take.
    const two = await allocate(a, { availabilityZone: zone, instanceFamily: "m5", quantity: 2 });
    expect(two.status).toBe(201);
    expect(two.body.hostIds).toHaveLength(2);
    for (const [body, field] of [
      [{ availabilityZone: zone }, "instanceFamily"],
      [{ availabilityZone: zone, instanceFamily: "m5", instanceType: "m5.large" }, "instanceFamily"],
      [{ availabilityZone: zone, instanceFamily: "z9" }, "instanceFamily"],
      [{ availabilityZone: zone, instanceType: "m5.huge" }, "instanceType"],
      [{ availabilityZone: zone, instanceFamily: "m5", quantity: 0 }, "quantity"],
      [{ availabilityZone: zone, instanceFamily: "m5", autoPlacement: "maybe" }, "autoPlacement"],
    ] as const) {
      const r = await allocate(a, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(JSON.stringify(r.body), JSON.stringify(body)).toContain(field);
    }
    const admin = await call<Problem>(
      "POST",
      "/v1/dedicated-hosts",
      { availabilityZone: zone, instanceFamily: "m5" },
      bearer(env.HYPERFLEET_ADMIN_KEY),
    );
    expect(admin.status).toBe(403);
  });
});
