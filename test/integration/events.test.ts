import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { consumeEvents } from "../../src/events/consumer";
import { FLEET_EVENT_TYPES, type FleetEvent } from "../../src/sim/records";
import { addHosts, advance, call, freshZone, launch } from "./helpers";

function bare(type: string): FleetEvent {
  // No instance or host records: the consumer stores only the event row.
  return {
    id: crypto.randomUUID(),
    type: type as FleetEvent["type"],
    time: 1_000,
    hostId: null,
    instanceId: null,
    previousState: null,
    state: "available",
    instance: null,
    host: null,
    hostRecord: null,
  };
}

describe("the events queue consumer", () => {
  it("stores an event of every kind the model emits, and sets an unknown kind aside", async () => {
    const known = FLEET_EVENT_TYPES.map(bare);
    const unknown = bare("instance.teleported");
    const batch = createMessageBatch<unknown>("hyperfleet-events", [
      ...known.map((e, i) => ({ id: `k${i}`, timestamp: new Date(), attempts: 1, body: e })),
      { id: "u", timestamp: new Date(), attempts: 1, body: unknown },
    ]);
    const ctx = createExecutionContext();
    await consumeEvents(batch, env);
    const result = await getQueueResult(batch, ctx);
    expect(result.retryMessages).toEqual([]);
    expect(result.explicitAcks.length).toBe(known.length + 1);
    const stored = await env.DB.prepare("SELECT id, type FROM events WHERE time = 1000").all<{
      id: string;
      type: string;
    }>();
    const byId = new Map(stored.results.map((r) => [r.id, r.type]));
    for (const e of known) expect(byId.get(e.id)).toBe(e.type);
    // Acked because it went to the dead letter queue, not because it was stored.
    expect(byId.has(unknown.id)).toBe(false);
  });

  it("takes a redelivery of logged events of an account without subscriptions for a read of ids alone", async () => {
    const evs = [bare("host.state-changed"), bare("host.state-changed")].map((e) => ({
      ...e,
      subject: { kind: "volume" as const, id: `vol-${e.id.slice(0, 8)}`, accountId: "000000000777" },
    }));
    const messages = evs.map((e, i) => ({ id: `r${i}`, timestamp: new Date(), attempts: 1, body: e }));
    await consumeEvents(createMessageBatch<unknown>("hyperfleet-events", messages), env);
    // The same events again, as the queue redelivers them, through a D1 that notes its SQL.
    const seen: string[] = [];
    const db = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "prepare") {
          return (q: string) => {
            seen.push(q);
            return target.prepare(q);
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const again = createMessageBatch<unknown>("hyperfleet-events", messages);
    const ctx = createExecutionContext();
    await consumeEvents(again, { ...env, DB: db });
    const result = await getQueueResult(again, ctx);
    expect(result.explicitAcks.sort()).toEqual(["r0", "r1"]);
    // Ids from the log, the account's subscriptions (none): no bodies, no writes.
    expect(seen.some((q) => /"body"/.test(q) && /from "events"/i.test(q))).toBe(false);
    expect(seen.some((q) => /^\s*(insert|update|delete)/i.test(q))).toBe(false);
    expect(seen.length).toBe(2);
  });

  it("applies a batch's events together, and when one cannot be applied retries only that one", async () => {
    const good = [bare("host.state-changed"), bare("host.state-changed")];
    // Valid in shape, but its instance record lacks the columns D1 requires.
    const bad = {
      ...bare("instance.updated"),
      instanceId: "i-0000000000000bad0",
      instance: { instanceId: "i-0000000000000bad0", version: 1 },
    };
    const batch = createMessageBatch<unknown>("hyperfleet-events", [
      { id: "g0", timestamp: new Date(), attempts: 1, body: good[0] },
      { id: "b", timestamp: new Date(), attempts: 1, body: bad },
      { id: "g1", timestamp: new Date(), attempts: 1, body: good[1] },
    ]);
    const ctx = createExecutionContext();
    await consumeEvents(batch, env);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks.sort()).toEqual(["g0", "g1"]);
    expect(result.retryMessages.map((m) => m.msgId)).toEqual(["b"]);
    for (const e of good) {
      expect(await env.DB.prepare("SELECT id FROM events WHERE id = ?").bind(e.id).first()).not.toBeNull();
    }
    expect(await env.DB.prepare("SELECT id FROM events WHERE id = ?").bind(bad.id).first()).toBeNull();
  });

  it("skips a redelivered event the log already has, whose rows were applied with it, and applies the rest", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const [first, second] = (await launch({ instanceType: "m5.large", availabilityZone: zone, maxCount: 2 }))
      .body.instances;
    const bodies = await env.DB.prepare("SELECT instance_id, body FROM events WHERE instance_id IN (?, ?)")
      .bind(first.instanceId, second.instanceId)
      .all<{ instance_id: string; body: string }>();
    const eventOf = (id: string) =>
      JSON.parse(bodies.results.find((r) => r.instance_id === id)!.body) as FleetEvent;
    const known = eventOf(first.instanceId);
    // The second launch event is lost from D1 altogether. The first one's row is marked and
    // set a version back, a state the mirror never leaves, so that only a rewrite changes it.
    const logged = eventOf(second.instanceId);
    // The log keeps no tags; a first event as the queue carries it has them (none here).
    const lost = { ...logged, instance: { ...logged.instance!, tags: {} } };
    await env.DB.prepare("DELETE FROM events WHERE id = ?").bind(lost.id).run();
    await env.DB.prepare("DELETE FROM instances WHERE id = ?").bind(second.instanceId).run();
    await env.DB.prepare("UPDATE instances SET state_reason = 'marked', version = version - 1 WHERE id = ?")
      .bind(first.instanceId)
      .run();
    const batch = createMessageBatch<unknown>("hyperfleet-events", [
      { id: "k", timestamp: new Date(), attempts: 2, body: known },
      { id: "l", timestamp: new Date(), attempts: 2, body: lost },
    ]);
    const ctx = createExecutionContext();
    await consumeEvents(batch, env);
    expect((await getQueueResult(batch, ctx)).explicitAcks.sort()).toEqual(["k", "l"]);
    const row = (id: string) =>
      env.DB.prepare("SELECT state, state_reason AS reason FROM instances WHERE id = ?").bind(id).first();
    expect(await row(first.instanceId)).toMatchObject({ reason: "marked" });
    expect(await row(second.instanceId)).toMatchObject({ state: "pending" });
  });
});

describe("events after an instance's first", () => {
  it("leave its tags out, as does the log, and D1's row keeps them through its whole life", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 2);
    const tags = { team: "web", owner: zone };
    const id = (await launch({ instanceType: "m5.large", availabilityZone: zone, tags })).body.instances[0]
      .instanceId;
    await advance(60);
    await call("POST", `/v1/instances/${id}/stop`);
    await advance(60);
    await call("POST", `/v1/instances/${id}/start`);
    await advance(60);
    await call("PUT", `/v1/instances/${id}/workload`, { profile: "cpu_intensive" });
    const logged = await env.DB.prepare(
      "SELECT previous_state, body FROM events WHERE instance_id = ? ORDER BY seq",
    )
      .bind(id)
      .all<{ previous_state: string | null; body: string }>();
    // The log keeps none of them: the instance's row has them.
    const carried = logged.results.map((r) => JSON.parse(r.body) as FleetEvent);
    expect(carried.length).toBeGreaterThan(5);
    expect(carried.every((e) => e.instance !== null && e.instance.tags === undefined)).toBe(true);
    const listed = await call<{ instances: { instanceId: string; tags: Record<string, string> }[] }>(
      "GET",
      `/v1/instances?tag=owner=${zone}`,
    );
    expect(listed.body.instances.map((i) => [i.instanceId, i.tags])).toEqual([[id, tags]]);
  });

  it("hold back a later event of an instance D1 has never seen until its first arrives", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const id = (await launch({ instanceType: "m5.large", availabilityZone: zone, tags: { team: "db" } })).body
      .instances[0].instanceId;
    await advance(60);
    const logged = await env.DB.prepare("SELECT id, body FROM events WHERE instance_id = ? ORDER BY seq")
      .bind(id)
      .all<{ id: string; body: string }>();
    const [logged0, later] = logged.results.map((r) => JSON.parse(r.body) as FleetEvent);
    expect(later.instance?.state).toBe("running");
    // The log keeps no tags; the first event as the queue carries it has them.
    const first = { ...logged0, instance: { ...logged0.instance!, tags: { team: "db" } } };
    // D1 lost the instance and its log: the queue brings the later event first.
    await env.DB.prepare("DELETE FROM events WHERE instance_id = ?").bind(id).run();
    await env.DB.prepare("DELETE FROM instances WHERE id = ?").bind(id).run();
    const early = createMessageBatch<unknown>("hyperfleet-events", [
      { id: "later", timestamp: new Date(), attempts: 1, body: later },
    ]);
    let ctx = createExecutionContext();
    await consumeEvents(early, env);
    expect((await getQueueResult(early, ctx)).retryMessages.map((m) => m.msgId)).toEqual(["later"]);
    const both = createMessageBatch<unknown>("hyperfleet-events", [
      { id: "first", timestamp: new Date(), attempts: 1, body: first },
      { id: "later", timestamp: new Date(), attempts: 2, body: later },
    ]);
    ctx = createExecutionContext();
    await consumeEvents(both, env);
    expect((await getQueueResult(both, ctx)).explicitAcks.sort()).toEqual(["first", "later"]);
    const row = await env.DB.prepare("SELECT state, tags FROM instances WHERE id = ?").bind(id).first();
    expect(row).toEqual({ state: "running", tags: JSON.stringify({ team: "db" }) });
  });
});
