import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  addHosts,
  advance,
  call,
  freshZone,
  getInstance,
  hostView,
  type InstanceBody,
  type Problem,
} from "./helpers";

type Launched = { reservationId: string; instances: InstanceBody[] } & Problem;

/** A launch body as JSON text: an object literal cannot hold an own `__proto__` key. */
const launchText = (zone: string, tags: string, extra = "") =>
  call<Launched>(
    "POST",
    "/v1/instances",
    `{"instanceType":"m5.large","availabilityZone":"${zone}","tags":${tags}${extra}}`,
  );

const SPECIAL = '{"__proto__":"p","constructor":"c","prototype":"t","app":"web"}';
const SPECIAL_ENTRIES = [
  ["__proto__", "p"],
  ["constructor", "c"],
  ["prototype", "t"],
  ["app", "web"],
];

const entries = (tags: Record<string, string>) => Object.entries(tags).sort();

describe("tags named like JavaScript's own members", () => {
  it("are stored exactly as given: in the answer, the host object, D1, a read and a filtered list", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "m5", 1);
    const res = await launchText(zone, SPECIAL);
    expect(res.status).toBe(201);
    const [inst] = res.body.instances;
    expect(entries(inst.tags)).toEqual([...SPECIAL_ENTRIES].sort());

    const onHost = (await hostView(host.hostId)).vms.find((v) => v.instanceId === inst.instanceId);
    expect(entries(onHost?.tags ?? {})).toEqual([...SPECIAL_ENTRIES].sort());
    const row = await env.DB.prepare("SELECT tags FROM instances WHERE id = ?")
      .bind(inst.instanceId)
      .first<{ tags: string }>();
    expect(entries(JSON.parse(row?.tags ?? "{}"))).toEqual([...SPECIAL_ENTRIES].sort());

    expect(entries((await getInstance(inst.instanceId)).body.tags)).toEqual([...SPECIAL_ENTRIES].sort());
    const listed = await call<{ instances: InstanceBody[] }>(
      "GET",
      `/v1/instances?availabilityZone=${zone}&tag=__proto__=p&tag=constructor`,
    );
    expect(listed.body.instances.map((i) => i.instanceId)).toEqual([inst.instanceId]);
  });

  it("survive a stop and a start, when D1 alone holds the instance", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const [inst] = (await launchText(zone, SPECIAL)).body.instances;
    await advance(120);
    expect((await call("POST", `/v1/instances/${inst.instanceId}/stop`)).status).toBe(200);
    await advance(120);
    expect((await getInstance(inst.instanceId)).body.state.name).toBe("stopped");
    expect((await call("POST", `/v1/instances/${inst.instanceId}/start`)).status).toBe(200);
    await advance(120);
    const again = await getInstance(inst.instanceId);
    expect(again.body.state.name).toBe("running");
    expect(entries(again.body.tags)).toEqual([...SPECIAL_ENTRIES].sort());
  });

  it("count in a client token's parameters: another __proto__ value is another launch", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 2);
    const token = `,"clientToken":"proto-${zone}"`;
    expect((await launchText(zone, '{"__proto__":"a"}', token)).status).toBe(201);
    const replay = await launchText(zone, '{"__proto__":"a"}', token);
    expect(replay.status).toBe(201);
    const other = await launchText(zone, '{"__proto__":"b"}', token);
    expect(other.status).toBe(409);
    expect(other.body.code).toBe("IdempotentParameterMismatch");
  });
});

describe("tags out of bounds", () => {
  const cases: [string, string, string][] = [
    ["a key with the reserved aws: prefix", '{"aws:owner":"me"}', "body.tags.aws:owner"],
    ["a key with a control character", '{"a\\nb":"x"}', "body.tags.a\nb"],
    ["a value with a control character", '{"a":"x\\u0000"}', "body.tags.a"],
    ["a key over 128 characters", `{"${"k".repeat(129)}":"x"}`, `body.tags.${"k".repeat(129)}`],
    ["a value over 256 characters", `{"a":"${"v".repeat(257)}"}`, "body.tags.a"],
    [
      "more than 50 tags",
      JSON.stringify(Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, "v"]))),
      "body.tags",
    ],
    ["tags that are not an object", '["a"]', "body.tags"],
  ];
  for (const [what, tags, field] of cases) {
    it(`refuses ${what}, naming the tag, and launches nothing`, async () => {
      const zone = freshZone();
      await addHosts(zone, "m5", 1);
      const res = await launchText(zone, tags);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("InvalidParameterValue");
      expect(res.body.fields).toContain(field);
      const listed = await call<{ instances: unknown[] }>("GET", `/v1/instances?availabilityZone=${zone}`);
      expect(listed.body.instances).toEqual([]);
    });
  }

  it("takes exactly 50 tags, and keys and values at their longest", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const tags = Object.fromEntries(
      Array.from({ length: 50 }, (_, i) => [`${i}`.padEnd(128, "k"), "v".repeat(256)]),
    );
    const res = await launchText(zone, JSON.stringify(tags));
    expect(res.status).toBe(201);
    expect(Object.keys(res.body.instances[0].tags)).toHaveLength(50);
  });
});

describe("other objects of a request", () => {
  it("refuse a member named __proto__ as an unknown field rather than drop it", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const top = await launchText(zone, "{}", ',"__proto__":{"x":1}');
    expect(top.status).toBe(400);
    expect(top.body.fields).toContain("body.__proto__");
    const paging = await launchText(zone, "{}", ',"paging":{"__proto__":{"mode":"shadow"}}');
    expect(paging.status).toBe(400);
    expect(paging.body.fields).toContain("body.paging.__proto__");
    const workload = await launchText(
      zone,
      "{}",
      ',"workload":{"base":"idle","perBusySecond":{"__proto__":1}}',
    );
    expect(workload.status).toBe(400);
    expect(workload.body.detail).toContain("body.workload");
    const query = await call<Problem>("GET", "/v1/instances?__proto__=x");
    expect(query.status).toBe(400);
    expect(query.body.fields).toContain("query.__proto__");
  });
});
