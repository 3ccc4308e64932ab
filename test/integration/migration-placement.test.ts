// Where a live migration may take an instance: placement's own rules hold for the destination it
// chooses. An instance on its account's dedicated host moves only among that account's dedicated
// hosts, no other instance ever lands on a dedicated host, and a placement group member's move keeps
// the group's rule against the other members.
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
import { allSteps, driveSteps } from "./migration-driver";

interface MigrationBody {
  migrationId: string;
  sourceHostId: string;
  destinationHostId: string | null;
  status: string;
  reason: string | null;
}

const as = (t: Tenant) => bearer(t.apiKey);

async function allocate(t: Tenant, zone: string, quantity = 1): Promise<string[]> {
  const res = await call<{ hostIds: string[] } & Problem>(
    "POST",
    "/v1/dedicated-hosts",
    { availabilityZone: zone, instanceFamily: "m5", quantity },
    as(t),
  );
  expect(res.status).toBe(201);
  return res.body.hostIds;
}

async function running(t: Tenant, body: Record<string, unknown>): Promise<string[]> {
  const res = await launch({ instanceType: "m5.large", ...body }, as(t));
  expect(res.status).toBe(201);
  await advance(600);
  return res.body.instances.map((i) => i.instanceId);
}

/** Migrates the instance, letting placement choose, and drives the migration to its end. */
async function migrate(t: Tenant, id: string): Promise<MigrationBody> {
  const m = await call<MigrationBody & Problem>("POST", `/v1/instances/${id}/migrate`, {}, as(t));
  expect(m.status).toBe(202);
  await driveSteps(allSteps([m.body.migrationId]));
  return (await call<MigrationBody>("GET", `/v1/migrations/${m.body.migrationId}`, undefined, as(t))).body;
}

/** Where the instance runs, as its owner sees it. */
const hostOf = async (t: Tenant, id: string) =>
  (await call<{ hostId: string }>("GET", `/v1/instances/${id}`, undefined, as(t))).body.hostId;

async function rackOf(hostId: string): Promise<string> {
  return (await call<{ rack: string }>("GET", `/v1/hosts/${hostId}`)).body.rack;
}

describe("a migration's destination", () => {
  it("for an instance on a dedicated host is another of its account's dedicated hosts, never a shared one", async () => {
    const zone = freshZone();
    const shared = (await addHosts(zone, "m5", 2)).map((h) => h.hostId);
    const a = await newTenant("mig-dh-a");
    const [first] = await allocate(a, zone);
    const [id] = await running(a, { hostId: first });
    expect(await hostOf(a, id)).toBe(first);

    // With no other dedicated host of the account, it stays put: shared hosts with room do not count.
    const stuck = await migrate(a, id);
    expect(stuck.status).toBe("failed");
    expect(stuck.reason).toMatch(/no other available dedicated m5 host/);
    expect(stuck.destinationHostId === null || !shared.includes(stuck.destinationHostId)).toBe(true);
    expect(await hostOf(a, id)).toBe(first);

    // A second dedicated host of the account (on a host added after the shared ones) takes it.
    await addHosts(zone, "m5", 1);
    const [second] = await allocate(a, zone);
    const moved = await migrate(a, id);
    expect(moved.status).toBe("completed");
    expect(moved.destinationHostId).toBe(second);
    expect(await hostOf(a, id)).toBe(second);
  });

  it("is never another account's dedicated host", async () => {
    const zone = freshZone();
    const [source] = (await addHosts(zone, "m5", 1)).map((h) => h.hostId);
    const a = await newTenant("mig-dh-own");
    const b = await newTenant("mig-dh-other");
    const [id] = await running(a, { availabilityZone: zone });
    expect(await hostOf(a, id)).toBe(source);
    await addHosts(zone, "m5", 3);
    const theirs = await allocate(b, zone, 3);
    // Each of B's hosts runs one of B's instances: fuller than an empty shared host, so placement's
    // binpack ranking would put them first, as many as a migration's tries.
    for (const h of theirs) await running(b, { hostId: h });

    // B's hosts are the only other hosts of the family: there is no destination, said as such.
    const none = await migrate(a, id);
    expect(none.status).toBe("failed");
    expect(theirs).not.toContain(none.destinationHostId);
    expect(none.reason).toMatch(/no other available m5 host can take m5\.large/);
    expect(await hostOf(a, id)).toBe(source);

    // An empty shared host appears: the migration goes there, however B's hosts rank.
    const [free] = (await addHosts(zone, "m5", 1)).map((h) => h.hostId);
    const moved = await migrate(a, id);
    expect(moved.status).toBe("completed");
    expect(moved.destinationHostId).toBe(free);
  });

  it("of a spread group member is never a rack another member uses, and the failure names the group", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 2, { rack: `${zone}-r1` });
    await addHosts(zone, "m5", 1, { rack: `${zone}-r2` });
    const t = await newTenant("mig-spread");
    const g = await call("POST", "/v1/placement-groups", { groupName: "web", strategy: "spread" }, as(t));
    expect(g.status).toBe(201);
    const ids = await running(t, {
      availabilityZone: zone,
      minCount: 2,
      maxCount: 2,
      placementGroup: { groupName: "web" },
    });
    const racks = await Promise.all(ids.map(async (i) => rackOf(await hostOf(t, i))));
    expect(new Set(racks)).toEqual(new Set([`${zone}-r1`, `${zone}-r2`]));
    const onR2 = ids[racks.indexOf(`${zone}-r2`)];
    const source = await hostOf(t, onR2);

    // Every other host is on r1, where the other member runs.
    const refused = await migrate(t, onR2);
    expect(refused.status).toBe("failed");
    expect(refused.reason).toMatch(/placement group 'web'/);
    expect(await hostOf(t, onR2)).toBe(source);

    // A host on a rack of its own takes it.
    const [r3] = (await addHosts(zone, "m5", 1, { rack: `${zone}-r3` })).map((h) => h.hostId);
    const moved = await migrate(t, onR2);
    expect(moved.status).toBe("completed");
    expect(moved.destinationHostId).toBe(r3);
    const after = await Promise.all(ids.map(async (i) => rackOf(await hostOf(t, i))));
    expect(new Set(after).size).toBe(2);
  });

  it("is judged by the host too: a shared host refuses an instance that comes from a dedicated host", async () => {
    const zone = freshZone();
    const both = (await addHosts(zone, "m5", 2)).map((h) => h.hostId);
    const a = await newTenant("mig-dh-judge");
    const [mine] = await allocate(a, zone);
    const shared = both.find((h) => h !== mine)!;
    const rec = {
      ...offeredInstance(findInstanceType("m5.large")!, {
        instanceId: "i-0000000000000d001",
        accountId: a.accountId,
        reservationId: "r-0123456789abcdef0",
        zone,
      }),
      state: "running" as const,
    };
    const clock = await new Fleet(env, OPERATOR).clock();
    expect((await env.HOST.getByName(shared).reserveIncoming(rec, "mig-x", clock, "host")).result).toBe(
      "unavailable",
    );
    // The same record from a shared host is taken by a shared host.
    const taken = await env.HOST.getByName(shared).reserveIncoming(rec, "mig-y", clock);
    expect(taken.result).toBe("reserved");
    await env.HOST.getByName(shared).releaseIncoming(rec.instanceId, "mig-y", clock);
    // The account's own dedicated host takes it.
    const own = await env.HOST.getByName(mine).reserveIncoming(rec, "mig-z", clock, "host");
    expect(own.result).toBe("reserved");
    await env.HOST.getByName(mine).releaseIncoming(rec.instanceId, "mig-z", clock);
  });
});
