import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ZONE_MAX_LENGTH } from "../../src/fleet/limits";
import { addHosts, call, freshZone, launch, type Problem } from "./helpers";

async function instanceCount(): Promise<number> {
  const res = await call<{ instances: unknown[] }>("GET", "/v1/instances?limit=1000");
  return res.body.instances.length;
}

describe("bad input", () => {
  const launches: [string, unknown, string][] = [
    ["an unknown field", { instanceType: "m5.large", colour: "red" }, "body.colour"],
    ["a count of the wrong type", { instanceType: "m5.large", maxCount: "two" }, "body.maxCount"],
    ["a negative count", { instanceType: "m5.large", minCount: -1 }, "body.minCount"],
    ["a fractional count", { instanceType: "m5.large", maxCount: 1.5 }, "body.maxCount"],
    ["minCount above maxCount", { instanceType: "m5.large", minCount: 3, maxCount: 2 }, "minCount"],
    ["an unknown instance type", { instanceType: "m5.enormous" }, "instanceType"],
    ["a missing instance type", { maxCount: 1 }, "body.instanceType"],
    [
      "an unknown placement strategy",
      { instanceType: "m5.large", placementStrategy: "random" },
      "body.placementStrategy",
    ],
    [
      "a client token over 64 characters",
      { instanceType: "m5.large", clientToken: "x".repeat(65) },
      "body.clientToken",
    ],
    ["a tag value that is not a string", { instanceType: "m5.large", tags: { a: 1 } }, "body.tags.a"],
    ["an unknown workload", { instanceType: "m5.large", workload: "mining" }, "body.workload"],
    [
      "a zone the fleet does not have",
      { instanceType: "m5.large", availabilityZone: "xx-nowhere-9z" },
      "availabilityZone",
    ],
  ];
  for (const [what, body, field] of launches) {
    it(`refuses a launch with ${what}, naming ${field}, and launches nothing`, async () => {
      const zone = freshZone();
      await addHosts(zone, "m5", 1);
      const before = await instanceCount();
      const res = await launch(body as Record<string, unknown>);
      expect(res.status).toBe(400);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      expect(res.body.code).toBe("InvalidParameterValue");
      expect(res.body.detail).toContain(field);
      expect(await instanceCount()).toBe(before);
    });
  }

  it("refuses a body that is not JSON", async () => {
    const res = await call<Problem>("POST", "/v1/instances", "{not json");
    expect(res.status).toBe(400);
    expect(res.body.detail).toContain("body");
  });

  it("refuses a huge body with 413 before reading it", async () => {
    const res = await call<Problem>("POST", "/v1/instances", {
      instanceType: "m5.large",
      tags: { a: "x".repeat(100_000) },
    });
    expect(res.status).toBe(413);
    expect(res.body.detail).toContain("body");
  });

  it("refuses malformed ids with 400 and unknown ones with 404", async () => {
    const malformed = await call<Problem>("GET", "/v1/instances/not-an-id");
    expect(malformed.status).toBe(400);
    expect(malformed.body.detail).toContain("path.id");
    const unknown = await call<Problem>("POST", "/v1/instances/i-0123456789abcdef0/stop");
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe("InvalidInstanceID.NotFound");
    const host = await call<Problem>("GET", "/v1/hosts/h-0123456789abcdef0");
    expect(host.status).toBe(404);
    expect(host.body.code).toBe("InvalidHostID.NotFound");
  });

  it("refuses unknown and ill-typed query parameters, naming them", async () => {
    const unknown = await call<Problem>("GET", "/v1/instances?colour=red");
    expect(unknown.status).toBe(400);
    expect(unknown.body.detail).toContain("query.colour");
    const state = await call<Problem>("GET", "/v1/instances?state=running,flying");
    expect(state.status).toBe(400);
    expect(state.body.detail).toContain("query.state");
    const limit = await call<Problem>("GET", "/v1/instances?limit=0");
    expect(limit.status).toBe(400);
    expect(limit.body.detail).toContain("query.limit");
  });

  it("refuses a host with an unknown family or a malformed zone, and creates none", async () => {
    const before = await call<{ hosts: unknown[] }>("GET", "/v1/hosts?limit=1000");
    const family = await call<Problem>("POST", "/v1/hosts", { availabilityZone: "us-east-1a", family: "z9" });
    expect(family.status).toBe(400);
    expect(family.body.detail).toContain("body.family");
    const zone = await call<Problem>("POST", "/v1/hosts", { availabilityZone: "moon", family: "m5" });
    expect(zone.status).toBe(400);
    expect(zone.body.detail).toContain("body.availabilityZone");
    const after = await call<{ hosts: unknown[] }>("GET", "/v1/hosts?limit=1000");
    expect(after.body.hosts.length).toBe(before.body.hosts.length);
  });

  it("refuses a zone of 60,000 characters (and so a rack name built from it), and creates no host", async () => {
    const before = await call<{ hosts: unknown[] }>("GET", "/v1/hosts?limit=1000");
    const zone = `us-${"e".repeat(60_000)}-1a`;
    const res = await call<Problem>("POST", "/v1/hosts", { availabilityZone: zone, family: "m5" });
    expect(res.status).toBe(400);
    expect(res.body.fields).toEqual(["body.availabilityZone"]);
    const after = await call<{ hosts: unknown[] }>("GET", "/v1/hosts?limit=1000");
    expect(after.body.hosts.length).toBe(before.body.hosts.length);
  });

  it("names a host's rack after the longest zone it takes, within the rack's 64 characters", async () => {
    const zone = "zz-abcdefgh-abcdefg-1a";
    expect(zone).toHaveLength(ZONE_MAX_LENGTH);
    const res = await call<{ rack: string }>("POST", "/v1/hosts", { availabilityZone: zone, family: "m5" });
    expect(res.status).toBe(201);
    expect(res.body.rack).toBe(`${zone}-rack-1`);
    expect(res.body.rack.length).toBeLessThanOrEqual(64);
    const long = await call<Problem>("POST", "/v1/hosts", {
      availabilityZone: zone,
      family: "m5",
      rack: "r".repeat(65),
    });
    expect(long.status).toBe(400);
    expect(long.body.fields).toEqual(["body.rack"]);
  });

  it("keeps its answer to input with hundreds of faults within the Problem schema's bounds", async () => {
    const body: Record<string, unknown> = { instanceType: "m5.large" };
    for (let i = 0; i < 200; i++) body[`${"x".repeat(260)}${i}`] = i;
    const res = await call<Problem>("POST", "/v1/instances", body);
    expect(res.status).toBe(400);
    expect(res.body.detail.length).toBeLessThanOrEqual(4096);
    expect(res.body.detail).toContain("and 190 more");
    expect(res.body.fields).toHaveLength(50);
    for (const f of res.body.fields ?? []) expect(f.length).toBeLessThanOrEqual(256);
    // Too long to name whole, a field keeps its start and its distinguishing end.
    expect(res.body.fields?.[0]).toMatch(/^body\.x+…x+0$/);
    expect(new Set(res.body.fields).size).toBe(50);
  });

  it("refuses filters and cursors that cannot name anything, naming them", async () => {
    for (const [path, field] of [
      ["/v1/instances?cursor=zzz", "query.cursor"],
      ["/v1/instances?hostId=h-1", "query.hostId"],
      ["/v1/instances?availabilityZone=moon", "query.availabilityZone"],
      [`/v1/instances?tag=${"t".repeat(400)}`, "query.tag"],
      ["/v1/hosts?cursor=zzz", "query.cursor"],
      ["/v1/events?type=instance.exploded", "query.type"],
    ]) {
      const res = await call<Problem>("GET", path);
      expect(res.status, path).toBe(400);
      expect(res.body.fields, path).toContain(field);
    }
  });

  it("filters by any tag key, quotes included, without an error", async () => {
    const res = await call<{ instances: unknown[] }>(
      "GET",
      `/v1/instances?tag=${encodeURIComponent('a"b')}=1`,
    );
    expect(res.status).toBe(200);
    expect(res.body.instances).toEqual([]);
  });

  it("refuses a host too small for its hypervisor's own reservation", async () => {
    const res = await call<Problem>("POST", "/v1/hosts", {
      availabilityZone: "us-east-1a",
      family: "m4",
      coresPerSocket: 1,
    });
    expect(res.status).toBe(400);
    expect(res.body.detail).toContain("body.coresPerSocket");
  });

  it("refuses a clock scale too small to schedule anything", async () => {
    const res = await call<Problem>("PUT", "/v1/admin/clock", { scale: 1e-13 });
    expect(res.status).toBe(400);
    expect(res.body.detail).toContain("body.scale");
  });

  it("refuses a clock that would run backwards", async () => {
    const res = await call<Problem>("POST", "/v1/admin/clock/advance", { seconds: -5 });
    expect(res.status).toBe(400);
    expect(res.body.detail).toContain("body.seconds");
  });
});

describe("the API's description", () => {
  it("serves OpenAPI 3.1 generated from the same schemas, and the docs page", async () => {
    const doc = await call<{ openapi: string; paths: Record<string, unknown> }>("GET", "/openapi.json");
    expect(doc.body.openapi).toBe("3.1.0");
    for (const p of [
      "/v1/instances",
      "/v1/instances/{id}",
      "/v1/hosts",
      "/v1/instance-types",
      "/v1/events",
    ]) {
      expect(Object.keys(doc.body.paths)).toContain(p);
    }
    const docs = await exports.default.fetch(new Request("http://fleet.test/docs"));
    expect(docs.status).toBe(200);
    expect(docs.headers.get("content-type")).toContain("text/html");
    expect(await docs.text()).toContain("/openapi.json");
  });

  it("filters the instance-type catalog", async () => {
    const res = await call<{
      instanceTypes: { name: string; vcpus: number; memoryMiB: number; hypervisor: string }[];
    }>("GET", "/v1/instance-types?hypervisor=nitro&minVcpus=64&minMemoryMiB=500000");
    expect(res.body.instanceTypes.map((t) => t.name).sort()).toEqual([
      "r5.16xlarge",
      "r5.24xlarge",
      "r5d.16xlarge",
      "r5d.24xlarge",
    ]);
    const c5 = await call<{ instanceTypes: { name: string }[] }>("GET", "/v1/instance-types?family=c5");
    expect(c5.body.instanceTypes.map((t) => t.name)).toEqual([
      "c5.large",
      "c5.xlarge",
      "c5.2xlarge",
      "c5.4xlarge",
      "c5.9xlarge",
      "c5.12xlarge",
      "c5.18xlarge",
      "c5.24xlarge",
    ]);
  });
});
