// The EC2 Query endpoint inside workerd: access keys and their secrets at rest, signed
// requests through the Worker's own fetch, tag changes reaching the host object and D1,
// and no input that makes it answer 500.

import { env, exports } from "cloudflare:workers";
import { SignatureV4 } from "@smithy/signature-v4";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RATE_LIMIT } from "../../src/api/rate-limit";
import { SIGV4_SKEW_MS } from "../../src/fleet/limits";
import { WebSha256 } from "../web-sha256";
import { ADMIN_KEY, addHosts, advance, call, freshZone, hostView, newTenant, type Tenant } from "./helpers";

interface AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
  accountId: string;
  status: string;
}

const bearer = (t: Tenant) => ({ authorization: `Bearer ${t.apiKey}` });

async function newAccessKey(t: Tenant): Promise<AccessKey> {
  const res = await call<AccessKey>("POST", `/v1/accounts/${t.accountId}/access-keys`, undefined, bearer(t));
  if (res.status !== 201) throw new Error(`access key: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Posts `params` to the Query endpoint signed with `key` at `when`; the status and XML text. */
async function query(
  key: Pick<AccessKey, "accessKeyId" | "secretAccessKey">,
  params: Record<string, string> | string,
  when = new Date(),
  contentType = "application/x-www-form-urlencoded; charset=utf-8",
) {
  const body =
    typeof params === "string"
      ? params
      : new URLSearchParams({ Version: "2016-11-15", ...params }).toString();
  const signer = new SignatureV4({
    credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
    region: "us-east-1",
    service: "ec2",
    sha256: WebSha256,
  });
  const signed = await signer.sign(
    {
      method: "POST",
      protocol: "http:",
      hostname: "fleet.test",
      path: "/",
      query: {},
      headers: { host: "fleet.test", "content-type": contentType },
      body,
    },
    { signingDate: when },
  );
  const res = await exports.default.fetch(
    new Request("http://fleet.test/", {
      method: "POST",
      headers: signed.headers as Record<string, string>,
      body,
    }),
  );
  return { status: res.status, xml: await res.text() };
}

const codeOf = (xml: string) => /<Code>([^<]*)<\/Code>/.exec(xml)?.[1] ?? null;
const all = (xml: string, tag: string) =>
  [...xml.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, "g"))].map((m) => m[1]);

describe("access keys", () => {
  it("show their secret once and keep it only encrypted", async () => {
    const t = await newTenant("keys");
    const key = await newAccessKey(t);
    expect(key.accessKeyId).toMatch(/^AKIA[A-Z2-7]{16}$/);
    expect(key.secretAccessKey).toHaveLength(40);
    expect(key.status).toBe("Active");
    const row = await env.DB.prepare("SELECT * FROM access_keys WHERE id = ?").bind(key.accessKeyId).first();
    const stored = JSON.stringify(row);
    expect(stored).not.toContain(key.secretAccessKey);
    expect(stored).not.toContain(btoa(key.secretAccessKey));
    const listed = await call<{ accessKeys: Record<string, unknown>[] }>(
      "GET",
      `/v1/accounts/${t.accountId}/access-keys`,
      undefined,
      bearer(t),
    );
    expect(listed.body.accessKeys.map((k) => k.accessKeyId)).toEqual([key.accessKeyId]);
    expect(JSON.stringify(listed.body)).not.toContain(key.secretAccessKey);
    // And the key signs: the endpoint opened the secret to check the signature.
    const res = await query(key, { Action: "DescribeInstances" });
    expect(res.status).toBe(200);
    expect(res.xml).toContain('<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">');
  });

  it("belong to their account: another account's are not found, and the admin makes them for any", async () => {
    const [a, b] = [await newTenant("a"), await newTenant("b")];
    const key = await newAccessKey(a);
    for (const [method, path] of [
      ["GET", `/v1/accounts/${a.accountId}/access-keys`],
      ["POST", `/v1/accounts/${a.accountId}/access-keys`],
      ["DELETE", `/v1/access-keys/${key.accessKeyId}`],
    ]) {
      const res = await call<{ code: string }>(method, path, undefined, bearer(b));
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    const byAdmin = await call<AccessKey>("POST", `/v1/accounts/${b.accountId}/access-keys`, undefined, {
      authorization: `Bearer ${ADMIN_KEY}`,
    });
    expect(byAdmin.status).toBe(201);
    expect(byAdmin.body.accountId).toBe(b.accountId);
  });

  it("stop signing once deactivated, and a secret that does not decrypt signs nothing", async () => {
    const t = await newTenant("revoke");
    const [key, other] = [await newAccessKey(t), await newAccessKey(t)];
    const res = await call<AccessKey>("DELETE", `/v1/access-keys/${key.accessKeyId}`, undefined, bearer(t));
    expect(res.body.status).toBe("Inactive");
    const refused = await query(key, { Action: "DescribeInstances" });
    expect([refused.status, codeOf(refused.xml)]).toEqual([401, "AuthFailure"]);
    // A ciphertext copied onto another key's row is bound to its own: it does not open there.
    await env.DB.prepare(
      "UPDATE access_keys SET secret_ciphertext = (SELECT secret_ciphertext FROM access_keys WHERE id = ?) WHERE id = ?",
    )
      .bind(key.accessKeyId, other.accessKeyId)
      .run();
    const moved = await query(
      { ...other, secretAccessKey: key.secretAccessKey },
      { Action: "DescribeInstances" },
    );
    expect([moved.status, codeOf(moved.xml)]).toEqual([401, "AuthFailure"]);
  });
});

describe("the Query endpoint", () => {
  it("refuses a request signed more than 15 minutes away: RequestExpired", async () => {
    const key = await newAccessKey(await newTenant("skew"));
    const late = await query(
      key,
      { Action: "DescribeInstances" },
      new Date(Date.now() - SIGV4_SKEW_MS - 60_000),
    );
    expect([late.status, codeOf(late.xml)]).toEqual([400, "RequestExpired"]);
    const early = await query(
      key,
      { Action: "DescribeInstances" },
      new Date(Date.now() + SIGV4_SKEW_MS + 60_000),
    );
    expect(codeOf(early.xml)).toBe("RequestExpired");
    const unsigned = await exports.default.fetch(
      new Request("http://fleet.test/", {
        method: "POST",
        body: "Action=DescribeInstances&Version=2016-11-15",
      }),
    );
    expect(unsigned.status).toBe(401);
    expect(codeOf(await unsigned.text())).toBe("MissingAuthenticationToken");
  });

  it("names what is wrong with a request, and changes nothing", async () => {
    const t = await newTenant("bad-input");
    const key = await newAccessKey(t);
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const launch = {
      Action: "RunInstances",
      InstanceType: "m5.large",
      MinCount: "1",
      MaxCount: "1",
      "Placement.AvailabilityZone": zone,
    };
    const cases: [Record<string, string> | string, string][] = [
      [{ ...launch, Colour: "red" }, "UnknownParameter"],
      [{ ...launch, InstanceType: "m9.huge" }, "InvalidParameterValue"],
      [{ ...launch, MinCount: "3" }, "InvalidParameterValue"],
      [{ ...launch, MaxCount: "1000" }, "InvalidParameterValue"],
      [
        { ...launch, "TagSpecification.1.ResourceType": "volume", "TagSpecification.1.Tag.1.Key": "a" },
        "UnsupportedOperation",
      ],
      [{ ...launch, "Placement.AvailabilityZone": "nowhere" }, "InvalidParameterValue"],
      // A Dedicated Host that is not the caller's is not found.
      [{ ...launch, "Placement.HostId": "h-00000000000000001" }, "InvalidHostID.NotFound"],
      [{ Action: "StopInstances", "InstanceId.1": "i-0123" }, "InvalidInstanceID.Malformed"],
      [{ Action: "StopInstances", "InstanceId.1": "i-0123456789abcdef0" }, "InvalidInstanceID.NotFound"],
      [{ Action: "StopInstances" }, "MissingParameter"],
      [
        { Action: "DescribeInstances", "Filter.1.Name": "colour", "Filter.1.Value.1": "red" },
        "InvalidParameterValue",
      ],
      [
        { Action: "DescribeInstances", MaxResults: "5", "InstanceId.1": "i-0123456789abcdef0" },
        "InvalidParameterCombination",
      ],
      [{ Action: "CreateTags", "ResourceId.1": "vol-0123456789abcdef0", "Tag.1.Key": "a" }, "InvalidID"],
      ["Action=DescribeInstances", "MissingParameter"],
      ["Action=DescribeInstances&Version=2014-01-01", "InvalidParameterValue"],
      ["Version=2016-11-15", "MissingAction"],
      ["Action=A&Action=B&Version=2016-11-15", "MalformedQueryString"],
    ];
    for (const [params, code] of cases) {
      const res = await query(key, params);
      expect(codeOf(res.xml), JSON.stringify(params)).toBe(code);
      expect(res.status, JSON.stringify(params)).toBe(400);
    }
    const json = await query(key, { Action: "DescribeInstances" }, new Date(), "application/json");
    expect(codeOf(json.xml)).toBe("InvalidParameterValue");
    const mine = await call<{ instances: unknown[] }>(
      "GET",
      `/v1/instances?availabilityZone=${zone}`,
      undefined,
      bearer(t),
    );
    expect(mine.body.instances).toEqual([]);
  });

  it("throttles each access key with RequestLimitExceeded (503, as EC2 throttles), and only that key", async () => {
    const t = await newTenant("throttle");
    const [key, other] = [await newAccessKey(t), await newAccessKey(t)];
    const ask = () => query(key, { Action: "DescribeAvailabilityZones" });
    let refused: Awaited<ReturnType<typeof ask>> | undefined;
    let allowed = 0;
    // One window's quota and one more, at once; a second round in case a window ended mid-way.
    for (let round = 0; round < 2 && !refused; round++) {
      const answers = await Promise.all(Array.from({ length: RATE_LIMIT.requests + 1 }, ask));
      allowed += answers.filter((a) => a.status === 200).length;
      refused = answers.find((a) => a.status !== 200);
    }
    expect(allowed).toBeGreaterThanOrEqual(RATE_LIMIT.requests);
    expect(refused?.status).toBe(503);
    expect(codeOf(refused?.xml ?? "")).toBe("RequestLimitExceeded");
    expect((await query(other, { Action: "DescribeAvailabilityZones" })).status).toBe(200);
  });

  it("never answers 500, whatever parameters come", async () => {
    const key = await newAccessKey(await newTenant("fuzz"));
    const actions = [
      "RunInstances",
      "DescribeInstances",
      "StopInstances",
      "CreateTags",
      "DeleteTags",
      "DescribeTags",
      "DescribeInstanceTypes",
      "DescribeHosts",
      "DescribeInstanceStatus",
      "DescribeAvailabilityZones",
      "CreateVpc",
      "Nope",
    ];
    const names = [
      "InstanceId.1",
      "InstanceId.0",
      "MaxResults",
      "NextToken",
      "Filter.1.Name",
      "Filter.1.Value.1",
      "Filter.1.Value.0",
      "Tag.1.Key",
      "Tag.1.Value",
      "ResourceId.1",
      "MinCount",
      "MaxCount",
      "InstanceType",
      "DryRun",
      "ZoneName.1",
      "HostId.1",
      "TagSpecification.1.Tag.1.Key",
      "ClientToken",
    ];
    const values = fc.oneof(
      fc.constantFrom(
        "",
        "5",
        "0",
        "-1",
        "true",
        "i-0123456789abcdef0",
        "m5.large",
        "tag:a",
        "instance-id",
        "\u0000",
        "é",
        "*",
      ),
      fc.string({ maxLength: 20 }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...actions),
        fc.dictionary(fc.constantFrom(...names), values, { maxKeys: 5 }),
        async (action, params) => {
          const res = await query(key, { ...params, Action: action });
          expect(res.status, `${action} ${JSON.stringify(params)}: ${res.xml}`).toBeLessThan(500);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("changes tags on the host object and in D1 alike, and on an instance on no host", async () => {
    const t = await newTenant("tags");
    const key = await newAccessKey(t);
    const zone = freshZone();
    const [host] = await addHosts(zone, "m5", 1);
    const run = await query(key, {
      Action: "RunInstances",
      InstanceType: "m5.large",
      MinCount: "1",
      MaxCount: "1",
      "Placement.AvailabilityZone": zone,
      "TagSpecification.1.ResourceType": "instance",
      "TagSpecification.1.Tag.1.Key": "team",
      "TagSpecification.1.Tag.1.Value": "web",
    });
    const [id] = all(run.xml, "instanceId");
    await advance(60);
    const created = await query(key, {
      Action: "CreateTags",
      "ResourceId.1": id,
      "Tag.1.Key": "env",
      "Tag.1.Value": "prod",
    });
    expect(created.xml).toContain("<return>true</return>");
    const onHost = (await hostView(host.hostId)).vms.find((v) => v.instanceId === id);
    expect(onHost?.tags).toEqual({ team: "web", env: "prod" });
    const row = await env.DB.prepare("SELECT tags FROM instances WHERE id = ?")
      .bind(id)
      .first<{ tags: string }>();
    expect(JSON.parse(row?.tags ?? "{}")).toEqual({ team: "web", env: "prod" });
    const report = await call<{ agree: boolean }>("POST", "/v1/admin/reconcile", {});
    expect(report.body.agree).toBe(true);

    // Stopped, the instance is on no host: D1 is its record, and its next host gets the tags.
    await query(key, { Action: "StopInstances", "InstanceId.1": id });
    await advance(60);
    await query(key, { Action: "DeleteTags", "ResourceId.1": id, "Tag.1.Key": "team" });
    await query(key, { Action: "StartInstances", "InstanceId.1": id });
    const started = (await hostView(host.hostId)).vms.find((v) => v.instanceId === id);
    expect(started?.tags).toEqual({ env: "prod" });
    const tags = await query(key, {
      Action: "DescribeTags",
      "Filter.1.Name": "resource-id",
      "Filter.1.Value.1": id,
    });
    expect(all(tags.xml, "key")).toEqual(["env"]);

    // Past EC2's 50 tags: TagLimitExceeded, and nothing changed.
    const many: Record<string, string> = { Action: "CreateTags", "ResourceId.1": id };
    for (let k = 1; k <= 50; k++) many[`Tag.${k}.Key`] = `k${k}`;
    const over = await query(key, many);
    expect(codeOf(over.xml)).toBe("TagLimitExceeded");
    const still = await query(key, {
      Action: "DescribeTags",
      "Filter.1.Name": "resource-id",
      "Filter.1.Value.1": id,
    });
    expect(all(still.xml, "key")).toEqual(["env"]);
  });
});

describe("volumes through the Query endpoint", () => {
  it("creates, attaches, describes, detaches, snapshots and deletes a volume, with EC2's codes", async () => {
    const t = await newTenant("ebs");
    const key = await newAccessKey(t);
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    for (let r = 1; r <= 3; r++) {
      const node = await call("POST", "/v1/storage-nodes", { availabilityZone: zone, rack: `${zone}-s${r}` });
      expect(node.status).toBe(201);
    }
    const run = await query(key, {
      Action: "RunInstances",
      InstanceType: "m5.large",
      MinCount: "1",
      MaxCount: "1",
      "Placement.AvailabilityZone": zone,
    });
    const [instanceId] = all(run.xml, "instanceId");
    await advance(60);

    const dry = await query(key, {
      Action: "CreateVolume",
      AvailabilityZone: zone,
      Size: "8",
      DryRun: "true",
    });
    expect(codeOf(dry.xml)).toBe("DryRunOperation");
    const created = await query(key, {
      Action: "CreateVolume",
      AvailabilityZone: zone,
      Size: "8",
      VolumeType: "gp3",
      ClientToken: "abc",
    });
    expect(created.status).toBe(200);
    const [volumeId] = all(created.xml, "volumeId");
    expect(volumeId).toMatch(/^vol-[0-9a-f]{17}$/);
    expect(all(created.xml, "size")).toEqual(["8"]);
    expect(all(created.xml, "availabilityZone")).toEqual([zone]);
    expect(all(created.xml, "encrypted")).toEqual(["true"]);
    expect(all(created.xml, "kmsKeyId")[0]).toBeTruthy();
    expect(["creating", "available"]).toContain(all(created.xml, "status")[0]);

    const attach = await query(key, {
      Action: "AttachVolume",
      VolumeId: volumeId,
      InstanceId: instanceId,
      Device: "/dev/sdf",
    });
    expect(attach.status).toBe(200);
    expect(all(attach.xml, "device")).toEqual(["/dev/sdf"]);
    expect(all(attach.xml, "instanceId")).toEqual([instanceId]);

    const described = await query(key, {
      Action: "DescribeVolumes",
      "Filter.1.Name": "attachment.instance-id",
      "Filter.1.Value.1": instanceId,
      "Filter.2.Name": "status",
      "Filter.2.Value.1": "in-use",
    });
    expect(all(described.xml, "volumeId")).toEqual([volumeId, volumeId]);
    expect(all(described.xml, "status")).toEqual(["in-use", "attached"]);
    const none = await query(key, {
      Action: "DescribeVolumes",
      "Filter.1.Name": "availability-zone",
      "Filter.1.Value.1": "us-east-1z",
    });
    expect(all(none.xml, "volumeId")).toEqual([]);

    // Attached, it cannot be deleted; a snapshot of it can be taken.
    expect(codeOf((await query(key, { Action: "DeleteVolume", VolumeId: volumeId })).xml)).toBe(
      "VolumeInUse",
    );
    const snap = await query(key, { Action: "CreateSnapshot", VolumeId: volumeId, Description: "nightly" });
    expect(snap.status).toBe(200);
    expect(all(snap.xml, "snapshotId")[0]).toMatch(/^snap-[0-9a-f]{17}$/);
    expect(all(snap.xml, "volumeId")).toEqual([volumeId]);
    expect(all(snap.xml, "volumeSize")).toEqual(["8"]);

    const detach = await query(key, { Action: "DetachVolume", VolumeId: volumeId });
    expect(detach.status).toBe(200);
    expect(all(detach.xml, "instanceId")).toEqual([instanceId]);
    expect(codeOf((await query(key, { Action: "DetachVolume", VolumeId: volumeId })).xml)).toBe(
      "IncorrectState",
    );
    const available = await query(key, { Action: "DescribeVolumes", "VolumeId.1": volumeId });
    expect(all(available.xml, "status")).toEqual(["available"]);

    // Another account does not see it.
    const other = await newAccessKey(await newTenant("ebs-other"));
    const theirs = await query(other, { Action: "DescribeVolumes", "VolumeId.1": volumeId });
    expect(codeOf(theirs.xml)).toBe("InvalidVolume.NotFound");

    const deleted = await query(key, { Action: "DeleteVolume", VolumeId: volumeId });
    expect(deleted.xml).toContain("<return>true</return>");
    const gone = await query(key, { Action: "DescribeVolumes", "VolumeId.1": volumeId });
    expect(codeOf(gone.xml)).toBe("InvalidVolume.NotFound");
    // Pages: six volumes, five a page, then the one left and no token.
    const made: string[] = [];
    for (let i = 0; i < 6; i++) {
      const v = await query(key, { Action: "CreateVolume", AvailabilityZone: zone, Size: "1" });
      made.push(all(v.xml, "volumeId")[0]);
    }
    const page1 = await query(key, { Action: "DescribeVolumes", MaxResults: "5" });
    expect(all(page1.xml, "volumeId")).toHaveLength(5);
    const [token] = all(page1.xml, "nextToken");
    expect(token).toBeTruthy();
    const page2 = await query(key, { Action: "DescribeVolumes", MaxResults: "5", NextToken: token });
    expect([...all(page1.xml, "volumeId"), ...all(page2.xml, "volumeId")].sort()).toEqual(made.sort());
    expect(all(page2.xml, "nextToken")).toEqual([]);
    const bad = await query(key, {
      Action: "CreateVolume",
      AvailabilityZone: zone,
      Size: "8",
      VolumeType: "sc9",
    });
    expect(codeOf(bad.xml)).toBe("InvalidParameterValue");
  });
});

describe("DescribeInstanceStatus", () => {
  it("lists an instance's scheduled events in eventsSet, filters by them, and shows them to no other account", async () => {
    const t = await newTenant("events");
    const key = await newAccessKey(t);
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const run = await query(key, {
      Action: "RunInstances",
      InstanceType: "m5.large",
      MinCount: "1",
      MaxCount: "1",
      "Placement.AvailabilityZone": zone,
    });
    const [instanceId] = all(run.xml, "instanceId");
    await advance(600);
    const empty = await query(key, { Action: "DescribeInstanceStatus", "InstanceId.1": instanceId });
    expect(empty.status).toBe(200);
    expect(all(empty.xml, "instanceEventId")).toEqual([]);

    const now = (await call<{ nowMs: number }>("GET", "/v1/clock")).body.nowMs;
    const notBefore = new Date(now + 3600_000).toISOString();
    const scheduled = await call<{ instanceEventId: string; notAfter: string; description: string }>(
      "POST",
      `/v1/instances/${instanceId}/scheduled-events`,
      { code: "system-reboot", notBefore },
      { authorization: `Bearer ${ADMIN_KEY}` },
    );
    expect(scheduled.status).toBe(201);
    const ev = scheduled.body;

    const res = await query(key, { Action: "DescribeInstanceStatus", "InstanceId.1": instanceId });
    expect(res.status).toBe(200);
    const events = /<eventsSet>([\s\S]*?)<\/eventsSet>/.exec(res.xml)?.[1] ?? "";
    expect(all(events, "instanceEventId")).toEqual([ev.instanceEventId]);
    expect(ev.instanceEventId).toMatch(/^instance-event-/);
    expect(all(events, "code")).toEqual(["system-reboot"]);
    expect(all(events, "description")).toEqual([ev.description.replaceAll("'", "&apos;")]);
    expect(all(events, "notBefore")).toEqual([notBefore]);
    expect(all(events, "notAfter")).toEqual([ev.notAfter]);

    const byCode = (code: string) =>
      query(key, {
        Action: "DescribeInstanceStatus",
        "Filter.1.Name": "event.code",
        "Filter.1.Value.1": code,
      });
    expect(all((await byCode("system-reboot")).xml, "instanceEventId")).toEqual([ev.instanceEventId]);
    expect(all((await byCode("instance-stop")).xml, "instanceId")).toEqual([]);
    const byDate = await query(key, {
      Action: "DescribeInstanceStatus",
      "Filter.1.Name": "event.not-before",
      "Filter.1.Value.1": notBefore,
    });
    expect(all(byDate.xml, "instanceId")).toEqual([instanceId]);

    // Another account: the instance is not found, and its own listing holds no event.
    const other = await newAccessKey(await newTenant("events-other"));
    const named = await query(other, { Action: "DescribeInstanceStatus", "InstanceId.1": instanceId });
    expect(named.status).toBe(400);
    expect(named.xml).not.toContain(ev.instanceEventId);
    const listed = await query(other, { Action: "DescribeInstanceStatus", IncludeAllInstances: "true" });
    expect(listed.status).toBe(200);
    expect(listed.xml).not.toContain(ev.instanceEventId);
    expect(all(listed.xml, "instanceId")).not.toContain(instanceId);
  });
});

describe("tenancy", () => {
  it("shows an instance launched on a Dedicated Host as tenancy host, a shared one as default", async () => {
    const t = await newTenant("ec2-tenancy");
    const key = await newAccessKey(t);
    const zone = freshZone();
    await addHosts(zone, "m5", 2);
    const got = await call<{ hostIds: string[] }>(
      "POST",
      "/v1/dedicated-hosts",
      { availabilityZone: zone, instanceFamily: "m5" },
      bearer(t),
    );
    const [dh] = got.body.hostIds;
    const run = (extra: Record<string, string>) =>
      query(key, {
        Action: "RunInstances",
        InstanceType: "m5.large",
        MinCount: "1",
        MaxCount: "1",
        "Placement.AvailabilityZone": zone,
        ...extra,
      });
    const onHost = await run({ "Placement.HostId": dh });
    expect(onHost.status, onHost.xml).toBe(200);
    expect(all(onHost.xml, "tenancy")).toEqual(["host"]);
    const shared = await run({});
    expect(shared.status, shared.xml).toBe(200);
    expect(all(shared.xml, "tenancy")).toEqual(["default"]);
    const [id] = all(onHost.xml, "instanceId");
    const described = await query(key, { Action: "DescribeInstances", "InstanceId.1": id });
    expect(all(described.xml, "tenancy")).toEqual(["host"]);
  });
});
