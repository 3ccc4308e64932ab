import {
  createExecutionContext,
  createMessageBatch,
  createScheduledController,
  evictDurableObject,
  getQueueResult,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { consumeEvents } from "../../src/events/consumer";
import worker from "../../src/index";
import type { FleetEvent } from "../../src/sim/records";
import { addHosts, advance, call, freshZone, getInstance, hostView, launch } from "./helpers";

interface Reconcile {
  agree: boolean;
  mismatchCount: number;
  mismatches: { kind: string; instanceId: string | null }[];
  instancesChecked: number;
  repaired: number;
}

async function instanceIds(zone: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const q: string = `/v1/instances?availabilityZone=${zone}&limit=50${cursor ? `&cursor=${cursor}` : ""}`;
    const page = await call<{ instances: { instanceId: string }[]; nextCursor: string | null }>("GET", q);
    ids.push(...page.body.instances.map((i) => i.instanceId));
    cursor = page.body.nextCursor;
  } while (cursor);
  return ids;
}

describe("admission under concurrency", () => {
  it("never overcommits a host when 200 launches race for a small fleet, and every success exists", async () => {
    const zone = freshZone();
    const hosts = await addHosts(zone, "m5", 3);
    // 3 hosts x 96 vCPUs hold 72 m5.xlarge (4 vCPUs); 200 ask.
    const results = await Promise.all(
      Array.from({ length: 200 }, () => launch({ instanceType: "m5.xlarge", availabilityZone: zone })),
    );
    const ok = results.filter((r) => r.status === 201);
    const refused = results.filter((r) => r.status === 503);
    expect(ok.length + refused.length).toBe(200);
    expect(refused.every((r) => r.body.code === "InsufficientInstanceCapacity")).toBe(true);
    expect(ok.length).toBe(72);

    let onHosts = 0;
    const threads = new Set<string>();
    for (const h of hosts) {
      const view = await hostView(h.hostId);
      const used = view.vms.reduce((s, v) => s + v.vcpus, 0);
      expect(used).toBeLessThanOrEqual(view.usage.capacity.vcpus.total);
      expect(view.usage.capacity.vcpus.used).toBe(used);
      expect(view.heldIds).toEqual([]);
      for (const v of view.vms) for (const t of v.threads) threads.add(`${h.hostId}/${t}`);
      onHosts += view.vms.length;
    }
    expect(threads.size).toBe(72 * 4);
    const launched = new Set(ok.map((r) => r.body.instances[0].instanceId));
    expect(onHosts).toBe(launched.size);
    expect(new Set(await instanceIds(zone))).toEqual(launched);
  });
});

describe("durability", () => {
  it("keeps a host's VMs, pinning and capacity across eviction of its object", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "r5", 1);
    const res = await launch({ instanceType: "r5.8xlarge", availabilityZone: zone, maxCount: 2 });
    const before = await hostView(host.hostId);
    await evictDurableObject(env.HOST.getByName(host.hostId));
    const after = await hostView(host.hostId);
    expect(after.vms).toEqual(before.vms);
    expect(after.usage.capacity).toEqual(before.usage.capacity);
    // Transitions still settle after the eviction, and capacity is still enforced.
    await advance(60);
    expect((await getInstance(res.body.instances[0].instanceId)).body.state.name).toBe("running");
    expect((await launch({ instanceType: "r5.24xlarge", availabilityZone: zone })).status).toBe(503);
  });
});

describe("D1 and the host objects", () => {
  it("agree after a storm of launches, stops, starts and terminations", async () => {
    const zone = freshZone();
    await addHosts(zone, "c5", 2);
    const ids: string[] = [];
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 6; round++) {
      const launches = await Promise.all(
        Array.from({ length: 6 }, () => launch({ instanceType: "c5.2xlarge", availabilityZone: zone })),
      );
      for (const l of launches) if (l.status === 201) ids.push(l.body.instances[0].instanceId);
      await Promise.all(
        ids.slice().map((id) => {
          const pick = rand(4);
          if (pick === 0) return call("POST", `/v1/instances/${id}/stop`);
          if (pick === 1) return call("POST", `/v1/instances/${id}/start`);
          if (pick === 2 && rand(3) === 0) return call("DELETE", `/v1/instances/${id}`);
          return call("POST", `/v1/instances/${id}/reboot`);
        }),
      );
      await advance(1 + rand(40));
    }
    const report = await call<Reconcile>("POST", "/v1/admin/reconcile", {});
    expect(report.status).toBe(200);
    expect(report.body.mismatches).toEqual([]);
    expect(report.body.agree).toBe(true);
    expect(report.body.instancesChecked).toBeGreaterThan(0);
  });

  it("finds a lost D1 write and repairs it from the host object", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "m5", 1);
    const id = (await launch({ instanceType: "m5.large", availabilityZone: zone })).body.instances[0]
      .instanceId;
    await advance(60);
    // A mirror write gone wrong: D1 believes the instance is pending. The version is left
    // alone, so no late queue delivery of the same events can mend it; only reconcile can.
    await env.DB.prepare("UPDATE instances SET state = 'pending', state_code = 0 WHERE id = ?")
      .bind(id)
      .run();
    await env.DB.prepare("UPDATE hosts SET used_vcpus = 0, vm_count = 0 WHERE id = ?")
      .bind(host.hostId)
      .run();
    const found = await call<Reconcile>("POST", "/v1/admin/reconcile", {});
    expect(found.body.agree).toBe(false);
    expect(found.body.mismatches.map((m) => m.kind).sort()).toEqual(["host-usage", "stale-in-d1"]);
    expect(found.body.mismatchCount).toBe(2);
    const repaired = await call<Reconcile>("POST", "/v1/admin/reconcile", { repair: true });
    expect(repaired.body.repaired).toBe(2);
    const again = await call<Reconcile>("POST", "/v1/admin/reconcile", {});
    expect(again.body.agree).toBe(true);
    expect((await getInstance(id)).body.state.name).toBe("running");
  });

  it("repairs a lost write by itself on the cron trigger", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const id = (await launch({ instanceType: "m5.large", availabilityZone: zone })).body.instances[0]
      .instanceId;
    await advance(60);
    await env.DB.prepare("UPDATE instances SET state = 'stopped', state_code = 80 WHERE id = ?")
      .bind(id)
      .run();
    expect((await call<Reconcile>("POST", "/v1/admin/reconcile", {})).body.agree).toBe(false);
    await worker.scheduled(createScheduledController({ cron: "*/10 * * * *" }), env);
    expect((await call<Reconcile>("POST", "/v1/admin/reconcile", {})).body.agree).toBe(true);
    expect((await getInstance(id)).body.state.name).toBe("running");
  });

  it("stores an event once however often the queue delivers it, and sets poison aside", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const id = (await launch({ instanceType: "m5.large", availabilityZone: zone })).body.instances[0]
      .instanceId;
    const { results } = await env.DB.prepare("SELECT body FROM events WHERE instance_id = ?")
      .bind(id)
      .all<{ body: string }>();
    const event = JSON.parse(results[0].body) as FleetEvent;
    const before = await env.DB.prepare("SELECT count(*) AS n FROM events").first<{ n: number }>();
    const batch = createMessageBatch<unknown>("hyperfleet-events", [
      { id: "m1", timestamp: new Date(), attempts: 1, body: event },
      { id: "m2", timestamp: new Date(), attempts: 2, body: event },
      { id: "m3", timestamp: new Date(), attempts: 1, body: { not: "an event" } },
    ]);
    const ctx = createExecutionContext();
    await consumeEvents(batch, env);
    const result = await getQueueResult(batch, ctx);
    // The malformed one is acked too: it went to the dead letter queue instead of retrying.
    expect(result.explicitAcks.sort()).toEqual(["m1", "m2", "m3"]);
    expect(result.retryMessages).toEqual([]);
    const after = await env.DB.prepare("SELECT count(*) AS n FROM events").first<{ n: number }>();
    expect(after?.n).toBe(before?.n);
  });
});
