// The launch's request path: what one launch costs (D1 round trips, host-object calls and
// queue sends, counted through wrappers of the bindings the request uses), that a list right
// after a launch has it, however many launch at once, and that an instance never runs
// without its network interface.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { database } from "../../src/db/client";
import { readClock } from "../../src/fleet/clock";
import { Fleet } from "../../src/fleet/context";
import { runInstances } from "../../src/fleet/launch";
import {
  addHosts,
  advance,
  bearer,
  call,
  freshZone,
  hostView,
  launch,
  newTenant,
  oneInstance,
  withKeys,
} from "./helpers";

interface Counts {
  d1: number;
  hostCalls: number;
  queueSends: number;
}

/** `env` with its D1, host namespace and events queue counted. */
function counted(): { env: Env; counts: Counts } {
  const counts: Counts = { d1: 0, hostCalls: 0, queueSends: 0 };
  const stmt = (s: D1PreparedStatement): D1PreparedStatement =>
    new Proxy(s, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target);
        if (typeof v !== "function") return v;
        if (prop === "bind") return (...args: unknown[]) => stmt(v.apply(target, args));
        if (prop === "first" || prop === "all" || prop === "run" || prop === "raw") {
          return (...args: unknown[]) => {
            counts.d1++;
            return v.apply(target, args);
          };
        }
        return v.bind(target);
      },
    });
  const db = new Proxy(env.DB, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target);
      if (prop === "prepare") return (q: string) => stmt(target.prepare(q));
      if (prop === "batch") {
        return (stmts: D1PreparedStatement[]) => {
          counts.d1++;
          return target.batch(stmts);
        };
      }
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  const host = new Proxy(env.HOST, {
    get(target, prop) {
      if (prop !== "getByName") {
        const v = Reflect.get(target, prop, target);
        return typeof v === "function" ? v.bind(target) : v;
      }
      return (name: string) => {
        const stub = target.getByName(name);
        return new Proxy(stub, {
          get(s, p) {
            if (p === "then" || typeof p !== "string") return undefined;
            return (...args: unknown[]) => {
              counts.hostCalls++;
              return (s as unknown as Record<string, (...a: unknown[]) => unknown>)[p](...args);
            };
          },
        });
      };
    },
  });
  const events = new Proxy(env.EVENTS, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target);
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        counts.queueSends++;
        return v.apply(target, args);
      };
    },
  });
  return { env: { ...env, DB: db, HOST: host, EVENTS: events } as Env, counts };
}

describe("the launch's request path", () => {
  it("costs one D1 round trip and one host-object call once the account's network is known", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 2);
    const t = await newTenant("cost");
    const caller = { role: "tenant" as const, accountId: t.accountId, keyId: t.keyId };
    const input = oneInstance(zone);
    const c = counted();
    // The clock comes with the caller's key (accounts.ts authenticate), as on the API.
    const clock = await readClock(database(env.DB), env);
    // The first launch of an account makes its default VPC and the zone's default subnet.
    const first = { ...c.counts };
    await runInstances(new Fleet(c.env, caller, clock), input);
    Object.assign(first, c.counts);
    expect(first.d1).toBeGreaterThan(1);
    for (let i = 0; i < 3; i++) {
      Object.assign(c.counts, { d1: 0, hostCalls: 0, queueSends: 0 });
      const r = await runInstances(new Fleet(c.env, caller, clock), input);
      expect(r.instances).toHaveLength(1);
      // Placement, the instance's row, its event and its interface: one batch. The host
      // object's events reach the queue from its outbox, off the request.
      expect(c.counts).toEqual({ d1: 1, hostCalls: 1, queueSends: 0 });
    }
    const enis = await env.DB.prepare("SELECT count(*) AS n FROM network_interfaces WHERE account_id = ?")
      .bind(t.accountId)
      .first<{ n: number }>();
    expect(enis?.n).toBe(4);
  });

  it("lists an instance right after its launch returns, while many other launches run", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 4);
    const t = await withKeys(await newTenant("read-your-writes"), 8);
    const keys = t.keys!;
    // 4 hosts x 48 m5.large; 120 launches and their lists at once, each list right after
    // its own launch, over eight keys.
    const results = await Promise.all(
      Array.from({ length: 120 }, async (_, n) => {
        const key = keys[n % keys.length];
        const tag = `run-${n}`;
        const res = await launch(
          { instanceType: "m5.large", availabilityZone: zone, tags: { run: tag } },
          bearer(key),
        );
        if (res.status !== 201) return { n, status: res.status, listed: [] as string[], id: "" };
        const list = await call<{ instances: { instanceId: string }[] }>(
          "GET",
          `/v1/instances?tag=run=${tag}`,
          undefined,
          bearer(key),
        );
        return {
          n,
          status: res.status,
          id: res.body.instances[0].instanceId,
          listed: list.body.instances.map((i) => i.instanceId),
        };
      }),
    );
    for (const r of results) {
      expect(r.status).toBe(201);
      expect(r.listed).toEqual([r.id]);
    }
  });

  it("fails a launch whose instance cannot get its interface, and terminates the instance it placed", async () => {
    const t = await newTenant("no-address");
    const zone = freshZone();
    const [host] = await addHosts(zone, "m5", 1);
    const as = bearer(t.apiKey);
    const first = await launch({ instanceType: "m5.large", availabilityZone: zone }, as);
    expect(first.status).toBe(201);
    // Every other address of the zone's default subnet taken behind this isolate's back, as
    // launches through another isolate would take them.
    const eni = await env.DB.prepare("SELECT subnet_id, ip FROM network_interfaces WHERE instance_id = ?")
      .bind(first.body.instances[0].instanceId)
      .first<{ subnet_id: string; ip: number }>();
    const subnet = await env.DB.prepare("SELECT cidr FROM subnets WHERE id = ?")
      .bind(eni!.subnet_id)
      .first<{ cidr: string }>();
    expect(subnet!.cidr).toMatch(/\/20$/);
    await env.DB.prepare(
      `WITH RECURSIVE n(k) AS (SELECT 4 UNION ALL SELECT k + 1 FROM n WHERE k < 4094)
       INSERT INTO network_interfaces (id, account_id, subnet_id, vpc_id, zone, instance_id, mac_address, private_ip, ip, security_group_ids, created_at)
       SELECT 'eni-ghost' || k, account_id, subnet_id, vpc_id, zone, 'i-ghost' || k, mac_address, private_ip, (ip - 4) + k, security_group_ids, created_at
       FROM network_interfaces, n WHERE instance_id = ? AND (ip - 4) + k <> ip`,
    )
      .bind(first.body.instances[0].instanceId)
      .run();
    const before = await hostView(host.hostId);
    const full = await launch({ instanceType: "m5.large", availabilityZone: zone }, as);
    expect(full.status).toBe(409);
    expect(full.body.code).toBe("InsufficientFreeAddressesInSubnet");
    const body = full.body as unknown as { instanceIds: string[]; detail: string };
    expect(body.detail).toMatch(/rolled back/);
    expect(body.instanceIds).toHaveLength(1);
    const [rolledBack] = body.instanceIds;
    // The instance is terminating, visibly, and holds no interface; its host has its room back.
    const instance = (id: string) =>
      call<{ state: { name: string } }>("GET", `/v1/instances/${id}`, undefined, as);
    const seen = await instance(rolledBack);
    expect(["shutting-down", "terminated"]).toContain(seen.body.state.name);
    const held = await env.DB.prepare("SELECT count(*) AS n FROM network_interfaces WHERE instance_id = ?")
      .bind(rolledBack)
      .first<{ n: number }>();
    expect(held?.n).toBe(0);
    await advance(60);
    expect((await instance(rolledBack)).body.state.name).toBe("terminated");
    const after = await hostView(host.hostId);
    expect(after.usage.capacity.vcpus.used).toBe(before.usage.capacity.vcpus.used);
  });

  it("never hands out an address another isolate took since this one read the subnet: it reads again", async () => {
    const t = await newTenant("taken-elsewhere");
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const as = bearer(t.apiKey);
    const first = await launch({ instanceType: "m5.large", availabilityZone: zone }, as);
    expect(first.status).toBe(201);
    // The next lowest address, taken as a launch through another isolate would take it.
    await env.DB.prepare(
      `INSERT INTO network_interfaces (id, account_id, subnet_id, vpc_id, zone, instance_id, mac_address, private_ip, ip, security_group_ids, created_at)
       SELECT 'eni-0000000000000beef', account_id, subnet_id, vpc_id, zone, 'i-0000000000000beef', mac_address, '172.31.0.5', ip + 1, security_group_ids, created_at
       FROM network_interfaces WHERE instance_id = ?`,
    )
      .bind(first.body.instances[0].instanceId)
      .run();
    const next = await launch(
      { instanceType: "m5.large", availabilityZone: zone, minCount: 2, maxCount: 2 },
      as,
    );
    expect(next.status).toBe(201);
    const rows = await env.DB.prepare(
      "SELECT instance_id, ip, private_ip FROM network_interfaces WHERE account_id = ? ORDER BY ip",
    )
      .bind(t.accountId)
      .all<{ instance_id: string; ip: number; private_ip: string }>();
    // Four interfaces, four addresses; the launched two hold neither of the first two.
    expect(new Set(rows.results.map((r) => r.ip)).size).toBe(4);
    const launched = new Set(next.body.instances.map((i) => i.instanceId));
    const theirs = rows.results.filter((r) => launched.has(r.instance_id)).map((r) => r.private_ip);
    expect(theirs).toHaveLength(2);
    expect(theirs).not.toContain("172.31.0.4");
    expect(theirs).not.toContain("172.31.0.5");
  });

  it("gives a default VPC's default subnets room for many zones: EC2's /20s for eight, then /24s", async () => {
    const t = await newTenant("many-zones");
    const as = bearer(t.apiKey);
    // Zones of their own, named apart: a zone's default subnet is its account's per zone.
    const base = freshZone().replace(/-1a$/, "");
    const zones = Array.from({ length: 18 }, (_, k) => `${base}${String.fromCharCode(97 + k)}-1a`);
    for (const zone of zones) {
      await addHosts(zone, "m5", 1);
      const res = await launch({ instanceType: "m5.large", availabilityZone: zone }, as);
      expect(res.status).toBe(201);
    }
    const subnets = await call<{ subnets: { availabilityZone: string; cidrBlock: string }[] }>(
      "GET",
      "/v1/subnets?limit=100",
      undefined,
      as,
    );
    const byZone = new Map(subnets.body.subnets.map((s) => [s.availabilityZone, s.cidrBlock]));
    const blocks = zones.map((z) => byZone.get(z));
    expect(blocks.slice(0, 8)).toEqual(Array.from({ length: 8 }, (_, k) => `172.31.${16 * k}.0/20`));
    expect(blocks.slice(8)).toEqual(Array.from({ length: 10 }, (_, k) => `172.31.${128 + k}.0/24`));
    const enis = await env.DB.prepare("SELECT count(*) AS n FROM network_interfaces WHERE account_id = ?")
      .bind(t.accountId)
      .first<{ n: number }>();
    expect(enis?.n).toBe(18);
  });
  it("launches into many new zones at once: each gets its own default subnet, none fails the race", async () => {
    const t = await newTenant("zones-at-once");
    const as = bearer(t.apiKey);
    const base = freshZone().replace(/-1a$/, "");
    const zones = Array.from({ length: 10 }, (_, k) => `${base}${String.fromCharCode(97 + k)}-1a`);
    for (const zone of zones) await addHosts(zone, "m5", 1);
    const results = await Promise.all(
      zones.map((zone) => launch({ instanceType: "m5.large", availabilityZone: zone }, as)),
    );
    expect(results.map((r) => r.status)).toEqual(zones.map(() => 201));
    const rows = await env.DB.prepare(
      "SELECT zone, cidr FROM subnets WHERE account_id = ? AND is_default = 1",
    )
      .bind(t.accountId)
      .all<{ zone: string; cidr: string }>();
    expect(new Set(rows.results.map((r) => r.zone))).toEqual(new Set(zones));
    expect(new Set(rows.results.map((r) => r.cidr)).size).toBe(zones.length);
  });
});
