// A launch's mirror as one statement: an insert into the view `launch_mirror`, whose trigger
// (migration 0019) runs the statements the batch would have run. The trigger's statements must
// be the code's, a launch's batch folds and no other does, and a failure inside the trigger
// applies nothing.
import { env } from "cloudflare:workers";
import { getTableColumns } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { database } from "../../src/db/client";
import { instances, networkInterfaces } from "../../src/db/schema";
import { readClock } from "../../src/fleet/clock";
import { Fleet } from "../../src/fleet/context";
import { runInstances } from "../../src/fleet/launch";
import { foldLaunch, LAUNCH_MIRROR, type Statement } from "../../src/fleet/mirror";
import { addHosts, call, freshZone, launch, newTenant, oneInstance } from "./helpers";

const statement = (sql: string, json = "[]"): Statement => ({ sql, params: [json] });

describe("a launch's mirror as one statement", () => {
  it("runs, in the view's trigger, exactly the statements the code would batch", async () => {
    const row = await env.DB.prepare("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?1")
      .bind("launch_mirror_insert")
      .first<{ sql: string }>();
    // Each statement, over its column's JSON, in the batch's order, and nothing else.
    const body = LAUNCH_MIRROR.map(
      ([column, sql]) => `  ${sql.replace("json_each(?)", `json_each(NEW."${column}")`)};`,
    );
    expect(row?.sql).toBe(
      [
        "CREATE TRIGGER `launch_mirror_insert` INSTEAD OF INSERT ON `launch_mirror` BEGIN",
        ...body,
        "END",
      ].join("\n"),
    );
  });

  it("folds a launch's batch, in its order, and leaves any other batch as it is", () => {
    const [events, instances, usages, interfaces, attached] = LAUNCH_MIRROR.map(([, sql]) => sql);
    const folded = foldLaunch([
      statement(events, "[1]"),
      statement(instances, "[2]"),
      statement(usages, "[3]"),
      statement(interfaces, "[4]"),
      statement(attached, "[5]"),
    ]);
    expect(folded).toHaveLength(1);
    expect(folded[0].sql).toMatch(/^INSERT INTO "launch_mirror"/);
    expect(folded[0].params).toEqual(["[1]", "[2]", "[3]", "[4]", "[5]"]);
    // A part left out binds null, which json_each reads as no rows.
    expect(foldLaunch([statement(events, "[1]"), statement(instances, "[2]")])[0].params).toEqual([
      "[1]",
      "[2]",
      null,
      null,
      null,
    ]);
    const others: Statement[][] = [
      // The same statement twice (a launch too large for one statement's JSON).
      [statement(events), statement(events)],
      // Out of the batch's order.
      [statement(instances), statement(events)],
      // Another statement among them.
      [statement(events), statement("DELETE FROM network_interfaces WHERE instance_id = ?1", "i-1")],
      // A statement alone gains nothing.
      [statement(events)],
      // More JSON together than one statement takes.
      [statement(events, "x".repeat(60 * 1024)), statement(instances, "y".repeat(60 * 1024))],
    ];
    for (const batch of others) expect(foldLaunch(batch)).toBe(batch);
  });

  it("stores a launch through the view: one statement where the batch had five", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const t = await newTenant("fold");
    const caller = { role: "tenant" as const, accountId: t.accountId, keyId: t.keyId };
    // The SQL of every statement the launch prepares.
    const prepared: string[] = [];
    const db = new Proxy(env.DB, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target);
        if (prop !== "prepare" || typeof v !== "function")
          return typeof v === "function" ? v.bind(target) : v;
        return (sql: string) => {
          prepared.push(sql);
          return v.call(target, sql);
        };
      },
    });
    const fleetEnv = { ...env, DB: db } as Env;
    const clock = await readClock(database(env.DB), env);
    const input = oneInstance(zone, { fold: "yes" });
    // The account's first launch makes its default network; the second is the common case.
    await runInstances(new Fleet(fleetEnv, caller, clock), input);
    prepared.length = 0;
    const r = await runInstances(new Fleet(fleetEnv, caller, clock), input);
    expect(r.instances).toHaveLength(1);
    expect(prepared.filter((sql) => sql.startsWith('INSERT INTO "launch_mirror"'))).toHaveLength(1);
    for (const [, sql] of LAUNCH_MIRROR) expect(prepared).not.toContain(sql);
    const row = await env.DB.prepare("SELECT tags FROM instances WHERE id = ?1")
      .bind(r.instances[0].instanceId)
      .first<{ tags: string }>();
    expect(JSON.parse(row?.tags ?? "null")).toEqual({ fold: "yes" });
  });

  it("applies nothing of a launch's mirror when one of its statements fails", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const first = await launch({ instanceType: "m5.large", availabilityZone: zone });
    expect(first.status).toBe(201);
    const taken = await env.DB.prepare("SELECT * FROM network_interfaces WHERE instance_id = ?1")
      .bind(first.body.instances[0].instanceId)
      .first<Record<string, unknown>>();
    expect(taken).not.toBeNull();
    // A second launch's rows whose interface takes the same address: the unique index refuses it.
    const instanceId = `i-${crypto.randomUUID().replaceAll("-", "").slice(0, 17)}`;
    const eventId = crypto.randomUUID();
    const instance = await env.DB.prepare("SELECT * FROM instances WHERE id = ?1")
      .bind(first.body.instances[0].instanceId)
      .first<Record<string, unknown>>();
    // A row as the mirror's JSON names its values: by the schema's keys, not the column names.
    const keyed = (table: typeof instances | typeof networkInterfaces, r: Record<string, unknown> | null) =>
      Object.fromEntries(Object.entries(getTableColumns(table)).map(([key, c]) => [key, r?.[c.name]]));
    const [insertEvents, upsertInstances, , insertInterfaces] = LAUNCH_MIRROR.map(([, sql]) => sql);
    const [fold] = foldLaunch([
      statement(
        insertEvents,
        JSON.stringify([
          {
            id: eventId,
            accountId: null,
            type: "instance.state-changed",
            time: 0,
            state: "pending",
            body: "{}",
            wallTime: 0,
          },
        ]),
      ),
      statement(upsertInstances, JSON.stringify([{ ...keyed(instances, instance), id: instanceId }])),
      statement(
        insertInterfaces,
        JSON.stringify([{ ...keyed(networkInterfaces, taken), id: "eni-0dup", instanceId }]),
      ),
    ]);
    await expect(
      env.DB.prepare(fold.sql)
        .bind(...fold.params)
        .run(),
    ).rejects.toThrow(/UNIQUE constraint failed/);
    const left = await env.DB.batch([
      env.DB.prepare("SELECT count(*) AS n FROM events WHERE id = ?1").bind(eventId),
      env.DB.prepare("SELECT count(*) AS n FROM instances WHERE id = ?1").bind(instanceId),
    ]);
    expect(left.map((r) => (r.results[0] as { n: number }).n)).toEqual([0, 0]);
    // And the launch's own rows are there, as the fold wrote them.
    const listed = await call<{ instances: { instanceId: string }[] }>("GET", "/v1/instances?limit=100");
    expect(listed.body.instances.map((i) => i.instanceId)).toContain(first.body.instances[0].instanceId);
  });
});
