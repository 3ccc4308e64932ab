// Group commit of placement calls in a host object (src/host/call-groups.ts): calls that reach
// a host together run as one host call, each answered as if it had run alone; a group that
// fails applies none of its calls, and each then runs again alone, so that one call's error is
// not its neighbours'.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { OPERATOR } from "../../src/fleet/accounts";
import { Fleet } from "../../src/fleet/context";
import type { CallGroups } from "../../src/host/call-groups";
import type { HostObject } from "../../src/host/host-object";
import { GROUP_MAX_CALLS } from "../../src/host/placement-ops";
import { findInstanceType } from "../../src/sim/catalog";
import { offeredInstance } from "../../src/sim/records";
import { addHosts, bearer, call, freshZone, hostView, launch, newTenant } from "./helpers";

/** Groups of placement calls a host object ran since it opened, and the calls they carried. */
async function groupCounts(hostId: string): Promise<{ groups: number; parts: number }> {
  return runInDurableObject(env.HOST.getByName(hostId), (obj) => ({
    ...(obj as unknown as { placements: CallGroups<unknown, unknown> }).placements.counts,
  }));
}

const M5_LARGE = findInstanceType("m5.large")!;

function offer(id: string, zone: string) {
  return offeredInstance(M5_LARGE, {
    instanceId: id,
    accountId: null,
    reservationId: "r-0123456789abcdef0",
    zone,
  });
}

/** Fills `hostId` with held m5.large admissions until `free` of them would still fit. */
async function fillTo(hostId: string, zone: string, free: number) {
  const clock = await new Fleet(env, OPERATOR).clock();
  const fill = Array.from({ length: 48 - free }, (_, k) => offer(`i-0f${String(k).padStart(15, "0")}`, zone));
  const r = await env.HOST.getByName(hostId).admit(fill, 1, clock);
  expect(r.result).toHaveLength(48 - free);
  return clock;
}

describe("placement calls that reach a host together", () => {
  it("place 60 concurrent launches once each, in fewer host calls than launches, none over capacity", async () => {
    const zone = freshZone();
    const hosts = await addHosts(zone, "m5", 2);
    const t = await newTenant("grouped");
    const as = bearer(t.apiKey);
    // The account's network first, so that the 60 launches race only for their hosts.
    expect((await launch({ instanceType: "m5.large", availabilityZone: zone }, as)).status).toBe(201);
    const before = await Promise.all(hosts.map((h) => groupCounts(h.hostId)));
    const results = await Promise.all(
      Array.from({ length: 60 }, () =>
        launch({ instanceType: "m5.large", availabilityZone: zone, placementStrategy: "binpack" }, as),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(results.map(() => 201));
    const launched = results.map((r) => r.body.instances[0].instanceId);
    expect(new Set(launched).size).toBe(60);
    // Every instance is on exactly one host, and no host holds more than its 48 m5.large.
    const views = await Promise.all(hosts.map((h) => hostView(h.hostId)));
    const onHosts = views.flatMap((v) => v.vms.map((i) => i.instanceId));
    expect(onHosts).toHaveLength(61);
    expect(new Set(onHosts).size).toBe(61);
    for (const v of views) {
      expect(v.usage.capacity.vcpus.used).toBeLessThanOrEqual(v.usage.capacity.vcpus.total);
      expect(v.usage.capacity.memoryMiB.used).toBeLessThanOrEqual(v.usage.capacity.memoryMiB.total);
    }
    for (const id of launched) expect(onHosts).toContain(id);
    // The hosts ran the launches' calls in fewer host calls than there were calls.
    const after = await Promise.all(hosts.map((h) => groupCounts(h.hostId)));
    const groups = after.reduce((n, c, i) => n + c.groups - before[i].groups, 0);
    const parts = after.reduce((n, c, i) => n + c.parts - before[i].parts, 0);
    expect(parts).toBeGreaterThanOrEqual(60);
    expect(groups).toBeLessThan(parts);
    // Each launch's answer is its instance, and the list has it.
    const list = await call<{ instances: { instanceId: string }[] }>(
      "GET",
      "/v1/instances?limit=100",
      undefined,
      as,
    );
    const listed = new Set(list.body.instances.map((i) => i.instanceId));
    for (const id of launched) expect(listed.has(id)).toBe(true);
  });

  it("answers each call of a group for itself: the one that fits is admitted, the next is refused", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "m5", 1);
    const clock = await fillTo(host.hostId, zone, 1);
    const before = await groupCounts(host.hostId);
    const stub = env.HOST.getByName(host.hostId);
    const [first, second] = await stub.placeMany(
      [
        {
          op: "admit",
          instances: [offer("i-0a0000000000000a1", zone)],
          commitIfAtLeast: 1,
          tenancy: "default",
        },
        {
          op: "admit",
          instances: [offer("i-0a0000000000000a2", zone)],
          commitIfAtLeast: 1,
          tenancy: "default",
        },
      ],
      clock,
    );
    const after = await groupCounts(host.hostId);
    expect(after.groups - before.groups).toBe(1);
    expect(after.parts - before.parts).toBe(2);
    expect(first.result).toEqual(["i-0a0000000000000a1"]);
    expect(second.result).toEqual([]);
    // Each answer carries its own change's events, not the other's; both see the host full.
    expect(first.events.map((e) => e.instanceId)).toContain("i-0a0000000000000a1");
    expect(second.events.map((e) => e.instanceId)).not.toContain("i-0a0000000000000a1");
    expect(first.usage).toEqual(second.usage);
    expect(second.usage.capacity.vcpus.free).toBe(0);
  });

  it("sends a launch its host refused within a group to the next host", async () => {
    const zone = freshZone();
    const hosts = await addHosts(zone, "m5", 2);
    const t = await newTenant("grouped-full");
    const as = bearer(t.apiKey);
    // One host holds 46 and has room for two: binpack offers all three launches to it, the fullest.
    const fill = await launch(
      {
        instanceType: "m5.large",
        availabilityZone: zone,
        minCount: 46,
        maxCount: 46,
        placementStrategy: "binpack",
      },
      as,
    );
    expect(fill.status).toBe(201);
    const a = hosts.find((h) => h.hostId === fill.body.instances[0].hostId)!;
    const b = hosts.find((h) => h !== a)!;
    expect(fill.body.instances.every((i) => i.hostId === a.hostId)).toBe(true);
    const results = await Promise.all(
      Array.from({ length: 3 }, () =>
        launch({ instanceType: "m5.large", availabilityZone: zone, placementStrategy: "binpack" }, as),
      ),
    );
    expect(results.map((r) => r.status)).toEqual([201, 201, 201]);
    const where = results.map((r) => r.body.instances[0].hostId);
    expect(where.filter((h) => h === a.hostId)).toHaveLength(2);
    expect(where.filter((h) => h === b.hostId)).toHaveLength(1);
    const va = await hostView(a.hostId);
    expect(va.usage.capacity.vcpus.free).toBe(0);
  });

  it("runs each call of a group whose host call fails again on its own: the one at fault fails alone, with nothing of it applied", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "m5", 1);
    const clock = await new Fleet(env, OPERATOR).clock();
    const stub = env.HOST.getByName(host.hostId);
    // The host's storage refuses to store one of the two instances.
    await runInDurableObject(stub, (_obj, state) => {
      state.storage.sql.exec(
        "CREATE TRIGGER injected_fault BEFORE INSERT ON vms WHEN NEW.instance_id = 'i-0b000000000000b02' BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
      );
    });
    const before = await groupCounts(host.hostId);
    // Two placements' calls that reach the object together (in one turn of its event loop).
    const outcomes = await runInDurableObject(stub, async (obj: HostObject) => {
      const settled = await Promise.allSettled([
        obj.admit([offer("i-0b000000000000b01", zone)], 1, clock),
        obj.admit([offer("i-0b000000000000b02", zone)], 1, clock),
      ]);
      return settled.map((o) => (o.status === "rejected" ? String(o.reason) : "answered"));
    });
    const after = await groupCounts(host.hostId);
    expect(after.groups - before.groups).toBe(1);
    expect(after.parts - before.parts).toBe(2);
    // The group rolled back whole; then each call ran alone: the fine one is answered, the
    // one whose instance the store refuses gets the error.
    expect(outcomes).toHaveLength(2);
    expect(outcomes[0]).toBe("answered");
    expect(outcomes[1]).toContain("injected fault");
    const view = await hostView(host.hostId);
    expect(view.vms.map((v: { instanceId: string }) => v.instanceId)).toEqual(["i-0b000000000000b01"]);
    expect(view.heldIds).toHaveLength(0);
    expect(view.usage.capacity.vcpus.used).toBe(2);
    // The host works on once the fault is gone, the refused instance included.
    await runInDurableObject(stub, (_obj, state) => {
      state.storage.sql.exec("DROP TRIGGER injected_fault");
    });
    const again = await stub.placeMany(
      [
        {
          op: "admit",
          instances: [offer("i-0b000000000000b02", zone)],
          commitIfAtLeast: 1,
          tenancy: "default",
        },
      ],
      clock,
    );
    expect(again.map((a) => a.result)).toEqual([["i-0b000000000000b02"]]);
  });

  it("refuses a call of more ops than a group takes, and applies none of it", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "m5", 1);
    const clock = await new Fleet(env, OPERATOR).clock();
    const stub = env.HOST.getByName(host.hostId);
    const ops = Array.from({ length: GROUP_MAX_CALLS + 1 }, (_, k) => ({
      op: "admit" as const,
      instances: [offer(`i-0c${String(k).padStart(15, "0")}`, zone)],
      commitIfAtLeast: 1,
      tenancy: "default" as const,
    }));
    const refused = await stub.placeMany(ops, clock).then(
      () => "answered",
      (err: Error) => err.message,
    );
    expect(refused).toContain(`1 to ${GROUP_MAX_CALLS} ops`);
    expect((await hostView(host.hostId)).usage.capacity.vcpus.used).toBe(0);
    // As many as a group takes run as one.
    const before = await groupCounts(host.hostId);
    const answers = await stub.placeMany(ops.slice(0, 48), clock);
    expect(answers.map((a) => a.result)).toEqual(ops.slice(0, 48).map((o) => [o.instances[0].instanceId]));
    const after = await groupCounts(host.hostId);
    expect(after.groups - before.groups).toBe(1);
  });
});
