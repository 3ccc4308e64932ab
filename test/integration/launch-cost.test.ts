// What one launch costs the platform: D1 round trips, host-object calls and queue sends on
// the request path, counted through wrappers of the bindings the request uses.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { database } from "../../src/db/client";
import { readClock } from "../../src/fleet/clock";
import { Fleet } from "../../src/fleet/context";
import { runInstances } from "../../src/fleet/launch";
import { addHosts, freshZone, newTenant } from "./helpers";

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

describe("the cost of a launch", () => {
  it("counts", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 2);
    const t = await newTenant("cost");
    const caller = { role: "tenant" as const, accountId: t.accountId, keyId: t.keyId };
    const input = {
      instanceType: "m5.large",
      minCount: 1,
      maxCount: 1,
      availabilityZone: zone,
      placementStrategy: "binpack" as const,
      tags: {},
      workload: {},
      paging: {},
    };
    const c = counted();
    const clock = await readClock(database(env.DB), env);
    // The first launch of an account makes its default VPC and the zone's default subnet.
    await runInstances(new Fleet(c.env, caller, clock), input as never);
    const per: Counts[] = [];
    for (let i = 0; i < 3; i++) {
      Object.assign(c.counts, { d1: 0, hostCalls: 0, queueSends: 0 });
      await runInstances(new Fleet(c.env, caller, clock), input as never);
      per.push({ ...c.counts });
    }
    console.log(JSON.stringify(per));
    expect(per.length).toBe(3);
  });
});
