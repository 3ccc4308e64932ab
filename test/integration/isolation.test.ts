// Tenant isolation over the whole API, generated from the OpenAPI document: every operation
// it lists is called as tenant A against tenant B's resources, so a route added later is
// tested the day it appears. Reads of B's resources are 404, writes are refused, lists and
// every other answer never name anything of B's, and B's state is the same afterwards.
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { ACCESS } from "../../src/api/access";
import { OPERATOR } from "../../src/fleet/accounts";
import { Fleet } from "../../src/fleet/context";
import { runStep, type StepMessage } from "../../src/fleet/migration-steps";
import {
  ADMIN_KEY,
  addHosts,
  advance,
  bearer,
  call,
  freshZone,
  hostView,
  type InstanceBody,
  launch,
  newTenant,
  raw,
  type Tenant,
  withKeys,
} from "./helpers";
import { type Doc, METHODS, type Operation, sample } from "./openapi";
import { fanned, logEvent, subscribe } from "./webhook-helpers";

/** A stream's whole text (it ends after maxSeconds), as the body the checks below read. */
async function readStream(url: string, key: string): Promise<{ status: number; body: { code?: string } }> {
  const res = await exports.default.fetch(new Request(`http://fleet.test${url}`, { headers: bearer(key) }));
  const text = await res.text();
  return {
    status: res.status,
    body: res.status === 200 ? ({ stream: text } as { code?: string }) : JSON.parse(text),
  };
}

let a: Tenant;
let b: Tenant;
let doc: Doc;
/** B's resources by kind, and the strings that would betray them. */
const theirs = {
  instances: [] as string[],
  hosts: [] as string[],
  keyIds: [] as string[],
  migrations: [] as string[],
  accessKeyIds: [] as string[],
  account: "",
  subscription: "",
  alarm: "",
  event: "",
  delivery: "",
};
/** B's block storage and file system, and a storage node (the fleet's: only the admin's to touch). */
const storage = { volume: "", snapshot: "", fileSystem: "", handle: "", node: "" };
/** B's network, by the kind a path names; and A's own VPCs, for request bodies that name one. */
const theirNet = {
  vpcs: "",
  subnets: "",
  "security-groups": "",
  rule: "",
  "vpc-peering-connections": "",
  "network-interfaces": "",
  "network-acls": "",
};
/** B's placement group, by name (names are each account's own). */
const B_GROUP = "b-group-5c1d";
const ownNet = { vpcId: "", peerVpcId: "" };
let sharedHost = "";
/** The zone of the host both tenants use: where A's own launches go, never onto B's host. */
let sharedZone = "";
let secrets: string[] = [];
const MARK = "b-private-tag-7f3e";

/** Everything of B's that A could change: D1 rows and the host objects' own records. */
async function stateOfB() {
  const q = (sql: string) => env.DB.prepare(sql).bind(b.accountId).all();
  const records = [];
  for (const hostId of [...theirs.hosts, sharedHost]) {
    const view = await hostView(hostId);
    records.push(view.vms.filter((v) => v.accountId === b.accountId));
  }
  return {
    instances: (await q("SELECT * FROM instances WHERE account_id = ? ORDER BY id")).results,
    keys: (await q("SELECT * FROM api_keys WHERE account_id = ? ORDER BY id")).results,
    accessKeys: (await q("SELECT * FROM access_keys WHERE account_id = ? ORDER BY id")).results,
    tokens: (await q("SELECT * FROM client_tokens WHERE account_id = ? ORDER BY token")).results,
    events: (await q("SELECT id FROM events WHERE account_id = ? ORDER BY seq")).results,
    subscriptions: (await q("SELECT * FROM subscriptions WHERE account_id = ? ORDER BY id")).results,
    deliveries: (await q("SELECT id, status, attempts FROM deliveries WHERE account_id = ? ORDER BY id"))
      .results,
    alarms: (await q("SELECT * FROM alarms WHERE account_id = ? ORDER BY id")).results,
    volumes: (await q("SELECT * FROM volumes WHERE account_id = ? ORDER BY id")).results,
    attachments: (
      await q(
        "SELECT a.* FROM volume_attachments a JOIN volumes v ON v.id = a.volume_id WHERE v.account_id = ? ORDER BY a.volume_id",
      )
    ).results,
    snapshots: (await q("SELECT * FROM snapshots WHERE account_id = ? ORDER BY id")).results,
    fileSystems: (await q("SELECT * FROM filesystems WHERE account_id = ? ORDER BY id")).results,
    files: (
      await q(
        "SELECT f.path, f.version FROM fs_files f JOIN filesystems s ON s.id = f.filesystem_id WHERE s.account_id = ? ORDER BY f.path",
      )
    ).results,
    handles: (
      await q(
        "SELECT h.id, h.dirty FROM fs_handles h JOIN filesystems s ON s.id = h.filesystem_id WHERE s.account_id = ? ORDER BY h.id",
      )
    ).results,
    accounts: (await q("SELECT * FROM accounts WHERE id = ?")).results,
    migrations: (await q("SELECT * FROM migrations WHERE account_id = ? ORDER BY id")).results,
    vpcs: (await q("SELECT * FROM vpcs WHERE account_id = ? ORDER BY id")).results,
    subnets: (await q("SELECT * FROM subnets WHERE account_id = ? ORDER BY id")).results,
    interfaces: (await q("SELECT * FROM network_interfaces WHERE account_id = ? ORDER BY id")).results,
    groups: (await q("SELECT * FROM security_groups WHERE account_id = ? ORDER BY id")).results,
    rules: (await q("SELECT * FROM security_group_rules WHERE account_id = ? ORDER BY id")).results,
    peerings: (await q("SELECT * FROM vpc_peerings WHERE account_id = ? ORDER BY id")).results,
    networkEvents: (await q("SELECT id FROM network_events WHERE account_id = ? ORDER BY seq")).results,
    networkAcls: (await q("SELECT * FROM network_acls WHERE account_id = ? ORDER BY id")).results,
    networkAclEntries: (
      await q(
        "SELECT * FROM network_acl_entries WHERE account_id = ? ORDER BY acl_id, direction, rule_number",
      )
    ).results,
    networkAclAssociations: (
      await q("SELECT * FROM network_acl_associations WHERE account_id = ? ORDER BY id")
    ).results,
    placementGroups: (await q("SELECT * FROM placement_groups WHERE account_id = ? ORDER BY id")).results,
    records,
  };
}

/** B's resource of the kind a path parameter names, or the shared host A may see too. */
function targets(path: string): string[][] {
  const params = [...path.matchAll(/\{(\w+)\}/g)];
  if (params.length === 0) return [[]];
  if (path === "/v1/subscriptions/{id}/deliveries/{deliveryId}/redeliver")
    return [[theirs.subscription, theirs.delivery]];
  if (path === "/v1/security-groups/{id}/rules/{ruleId}")
    return [[theirNet["security-groups"], theirNet.rule]];
  if (params.length > 1) {
    if (path === "/v1/network-acls/{id}/entries/{direction}/{ruleNumber}")
      return [[theirNet["network-acls"], "ingress", "100"]];
    if (path === "/v1/volumes/{id}/blocks/{n}") return [[storage.volume, "0"]];
    if (path === "/v1/instances/{id}/instance-store/blocks/{n}")
      return theirs.instances.map((id) => [id, "0"]);
    if (path.startsWith("/v1/filesystems/{id}/handles/{handleId}"))
      return [[storage.fileSystem, storage.handle]];
    throw new Error(`teach the isolation test about ${path}`);
  }
  const kind = path.slice(0, params[0].index).split("/").filter(Boolean).pop();
  switch (kind) {
    case "instances":
      return theirs.instances.map((id) => [id]);
    case "hosts":
      return [[theirs.hosts[0]], [sharedHost]];
    case "accounts":
      return [[theirs.account]];
    case "keys":
      return [[theirs.keyIds[1]]];
    case "subscriptions":
      return [[theirs.subscription]];
    case "alarms":
      return [[theirs.alarm]];
    case "events":
      return [[theirs.event]];
    case "volumes":
      return [[storage.volume]];
    case "snapshots":
      return [[storage.snapshot]];
    case "filesystems":
      return [[storage.fileSystem]];
    case "storage-nodes":
      return [[storage.node]];
    case "migrations":
      return [[theirs.migrations[0]]];
    case "evacuations":
      // Admin-only: any well-formed id is refused before it is looked up.
      return [["evac-0123456789abcdef0"]];
    case "access-keys":
      return [[theirs.accessKeyIds[0]]];
    case "vpcs":
    case "subnets":
    case "security-groups":
    case "vpc-peering-connections":
    case "network-interfaces":
    case "network-acls":
      return [[theirNet[kind]]];
    case "placement-groups":
      return [[B_GROUP]];
    default:
      throw new Error(`no resource of B's for ${path}: teach the isolation test what it names`);
  }
}

/** Query strings to try: the required parameters, then also every *Id parameter set to one of B's. */
function queries(op: Operation): string[] {
  const byName: Record<string, string> = {
    instanceId: theirs.instances[0],
    hostId: theirs.hosts[0],
    resourceId: theirs.instances[0],
    // The stream from the start of the log: everything the caller may see.
    lastEventId: "0",
    volumeId: storage.volume,
    vpcId: theirNet.vpcs,
    subnetId: theirNet.subnets,
    networkInterfaceId: theirNet["network-interfaces"],
  };
  const query = (op.parameters ?? []).filter((p) => p.in === "query");
  const required = query.filter((p) => p.required).map((p) => `${p.name}=${sample(p.schema, doc)}`);
  const ids = query.filter((p) => p.name.endsWith("Id"));
  for (const p of ids) if (!byName[p.name]) throw new Error(`teach the isolation test about query ${p.name}`);
  const qs = (parts: string[]) => (parts.length ? `?${parts.join("&")}` : "");
  const plain = qs(required);
  return ids.length === 0
    ? [plain]
    : [plain, qs([...required, ...ids.map((p) => `${p.name}=${byName[p.name]}`)])];
}

describe("tenant isolation, operation by operation from /openapi.json", () => {
  beforeAll(async () => {
    doc = (await raw<Doc>("GET", "/openapi.json")).body;
    a = await withKeys(await newTenant("a"), 3);
    b = await newTenant("b");
    theirs.account = b.accountId;
    const own = freshZone();
    const shared = freshZone();
    sharedZone = shared;
    const [hb] = await addHosts(own, "m5", 1);
    const [hs] = await addHosts(shared, "m5", 1);
    theirs.hosts = [hb.hostId];
    sharedHost = hs.hostId;
    const asB = bearer(b.apiKey);
    const running = await launch(
      { instanceType: "m5.large", availabilityZone: own, tags: { note: MARK }, clientToken: "b-token" },
      asB,
    );
    const toStop = await launch({ instanceType: "m5.large", availabilityZone: own }, asB);
    const onShared = await launch({ instanceType: "m5.large", availabilityZone: shared }, asB);
    await launch({ instanceType: "m5.large", availabilityZone: shared }, bearer(a.apiKey));
    const all = [running, toStop, onShared].map((r) => r.body.instances[0] as InstanceBody);
    theirs.instances = all.map((i) => i.instanceId);
    await advance(60);
    expect((await call("POST", `/v1/instances/${all[1].instanceId}/stop`, undefined, asB)).status).toBe(200);
    for (const i of [all[0], all[2]]) {
      const res = await call(
        "POST",
        `/v1/instances/${i.instanceId}/memory/translate`,
        { address: "0x7f0000401000" },
        asB,
      );
      expect(res.status).toBe(200);
    }
    await advance(60);
    // B's subscription (with a delivery of one of its events), alarm and events.
    // Each on something that does not happen by itself meanwhile (B's state must hold still):
    // the subscription wants one alarm's events alone, the alarm a metric no Nitro host reports.
    const sub = await subscribe(b, {
      url: "https://hooks.example.com/b",
      eventTypes: ["alarm.*"],
      resourceIds: ["alarm-0123456789abcdef0"],
    });
    theirs.subscription = sub.id;
    const eventOfB = await logEvent(b.accountId);
    theirs.event = eventOfB;
    theirs.delivery = (await fanned([eventOfB]))[0].deliveryId;
    const alarm = await call<{ alarmId: string }>(
      "POST",
      "/v1/alarms",
      {
        alarmName: "b-alarm",
        metricName: "Hypercalls",
        dimensions: { InstanceId: all[0].instanceId },
        statistic: "Average",
        period: 60,
        evaluationPeriods: 1,
        threshold: 1,
        comparisonOperator: "GreaterThanThreshold",
      },
      asB,
    );
    theirs.alarm = alarm.body.alarmId;
    // A migration of B's, run to its end (its zone has no other host, so it fails there).
    const mig = await call<{ migrationId: string }>(
      "POST",
      `/v1/instances/${all[0].instanceId}/migrate`,
      {},
      asB,
    );
    expect(mig.status).toBe(202);
    theirs.migrations = [mig.body.migrationId];
    const fleet = new Fleet(env, OPERATOR);
    const steps: StepMessage[] = (["reserve", "precopy", "switch", "release"] as const).map((step) => ({
      migrationId: mig.body.migrationId,
      step,
    }));
    while (steps.length > 0) steps.push(...(await runStep(fleet, steps.shift()!)));
    const second = await call<{ keyId: string }>(
      "POST",
      `/v1/accounts/${b.accountId}/keys`,
      { name: "b2" },
      asB,
    );
    theirs.keyIds = [b.keyId, second.body.keyId];
    // B's volume (attached, written, snapshotted) and file system (a file, and one open for writing),
    // on storage nodes of B's zone and of the zone the document's examples name, where A makes its own.
    for (const zone of [own, "us-east-1a"]) {
      for (let r = 1; r <= 3; r++) {
        const node = await call<{ nodeId: string }>(
          "POST",
          "/v1/storage-nodes",
          { availabilityZone: zone, rack: `${zone}-s${r}` },
          bearer(ADMIN_KEY),
        );
        storage.node = node.body.nodeId;
      }
    }
    const vol = await call<{ volumeId: string }>(
      "POST",
      "/v1/volumes",
      { availabilityZone: own, volumeType: "gp3", sizeGiB: 8 },
      asB,
    );
    storage.volume = vol.body.volumeId;
    const attach = { instanceId: all[0].instanceId, device: "/dev/sdf" };
    expect((await call("POST", `/v1/volumes/${storage.volume}/attach`, attach, asB)).status).toBe(200);
    const blockData = btoa(MARK.padEnd(4096, "."));
    const wrote = await call("PUT", `/v1/volumes/${storage.volume}/blocks/0`, { data: blockData }, asB);
    expect(wrote.status).toBe(200);
    const local = await call(
      "PUT",
      `/v1/instances/${all[0].instanceId}/instance-store/blocks/0`,
      { data: blockData },
      asB,
    );
    expect(local.status).toBe(400); // m5 has no instance store: B's instances are EBS only
    storage.snapshot = (
      await call<{ snapshotId: string }>("POST", `/v1/volumes/${storage.volume}/snapshots`, undefined, asB)
    ).body.snapshotId;
    storage.fileSystem = (
      await call<{ fileSystemId: string }>("POST", "/v1/filesystems", { name: "b-files" }, asB)
    ).body.fileSystemId;
    await call("POST", `/v1/filesystems/${storage.fileSystem}/mount-targets`, { availabilityZone: own }, asB);
    const opened = await call<{ handleId: string }>(
      "POST",
      `/v1/filesystems/${storage.fileSystem}/open`,
      { instanceId: all[0].instanceId, path: "/app/config.txt", mode: "write" },
      asB,
    );
    storage.handle = opened.body.handleId;
    await call(
      "PUT",
      `/v1/filesystems/${storage.fileSystem}/handles/${storage.handle}`,
      { data: btoa(MARK) },
      asB,
    );
    await call(
      "POST",
      `/v1/filesystems/${storage.fileSystem}/handles/${storage.handle}/close`,
      undefined,
      asB,
    );
    storage.handle = (
      await call<{ handleId: string }>(
        "POST",
        `/v1/filesystems/${storage.fileSystem}/open`,
        { instanceId: all[0].instanceId, path: "/app/config.txt", mode: "write" },
        asB,
      )
    ).body.handleId;
    expect(storage.handle).toMatch(/^fh-/);
    const accessKey = await call<{ accessKeyId: string; secretAccessKey: string }>(
      "POST",
      `/v1/accounts/${b.accountId}/access-keys`,
      undefined,
      asB,
    );
    theirs.accessKeyIds = [accessKey.body.accessKeyId];
    // B's network: its default VPC's interface, subnet and group, a VPC of its own with a
    // group and a rule, and a peering between the two.
    type Eni = { networkInterfaceId: string; subnetId: string; vpcId: string; securityGroupIds: string[] };
    const enis = await call<{ networkInterfaces: Eni[] }>(
      "GET",
      `/v1/network-interfaces?instanceId=${all[0].instanceId}`,
      undefined,
      asB,
    );
    const eni = enis.body.networkInterfaces[0];
    const bVpc = await call<{ vpcId: string }>("POST", "/v1/vpcs", { cidrBlock: "10.8.0.0/16" }, asB);
    const bGroup = await call<{ groupId: string }>(
      "POST",
      "/v1/security-groups",
      { vpcId: bVpc.body.vpcId, groupName: "b-group" },
      asB,
    );
    const bRules = await call<{ rules: { ruleId: string }[] }>(
      "POST",
      `/v1/security-groups/${bGroup.body.groupId}/rules`,
      { rules: [{ direction: "ingress", protocol: "tcp", fromPort: 22, toPort: 22, cidr: "10.0.0.0/8" }] },
      asB,
    );
    const bPeering = await call<{ vpcPeeringConnectionId: string }>(
      "POST",
      "/v1/vpc-peering-connections",
      { vpcId: eni.vpcId, peerVpcId: bVpc.body.vpcId },
      asB,
    );
    // A network ACL of B's VPC with a rule, associated with nothing, and a placement group.
    const bAcl = await call<{ networkAclId: string }>(
      "POST",
      "/v1/network-acls",
      { vpcId: bVpc.body.vpcId },
      asB,
    );
    expect(
      (
        await call(
          "POST",
          `/v1/network-acls/${bAcl.body.networkAclId}/entries`,
          {
            ruleNumber: 100,
            direction: "ingress",
            protocol: "all",
            cidrBlock: "0.0.0.0/0",
            ruleAction: "allow",
          },
          asB,
        )
      ).status,
    ).toBe(200);
    const bPg = await call<{ groupId: string }>(
      "POST",
      "/v1/placement-groups",
      { groupName: B_GROUP, strategy: "spread" },
      asB,
    );
    expect(bPg.status).toBe(201);
    Object.assign(theirNet, {
      "network-acls": bAcl.body.networkAclId,
      vpcs: eni.vpcId,
      subnets: eni.subnetId,
      "network-interfaces": eni.networkInterfaceId,
      "security-groups": bGroup.body.groupId,
      rule: bRules.body.rules[0].ruleId,
      "vpc-peering-connections": bPeering.body.vpcPeeringConnectionId,
    });
    // A's own VPCs, which request bodies that name a VPC use: the first is the documents' example block.
    const asA = bearer(a.apiKey);
    ownNet.vpcId = (
      await call<{ vpcId: string }>("POST", "/v1/vpcs", { cidrBlock: "10.0.0.0/16" }, asA)
    ).body.vpcId;
    ownNet.peerVpcId = (
      await call<{ vpcId: string }>("POST", "/v1/vpcs", { cidrBlock: "10.1.0.0/16" }, asA)
    ).body.vpcId;
    secrets = [
      storage.volume,
      storage.snapshot,
      storage.fileSystem,
      storage.handle,
      blockData.slice(0, 24),
      btoa(MARK),
      ...theirs.instances,
      ...new Set([running, toStop, onShared].map((r) => r.body.reservationId)),
      ...theirs.keyIds,
      ...theirs.migrations,
      ...theirs.accessKeyIds,
      accessKey.body.secretAccessKey,
      theirs.account,
      theirs.hosts[0],
      ...Object.values(theirNet),
      eni.vpcId,
      bVpc.body.vpcId,
      // The group's id, not its name: a refusal may say back the name the caller asked for.
      bPg.body.groupId,
      MARK,
      b.apiKey,
      theirs.subscription,
      theirs.alarm,
      theirs.event,
      theirs.delivery,
      sub.secret.slice(6),
    ];
  });

  it("has an access rule for every operation the document lists, and states it", () => {
    const listed = Object.entries(doc.paths).flatMap(([path, item]) =>
      METHODS.filter((m) => item[m]).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(listed.sort()).toEqual(Object.keys(ACCESS).sort());
    for (const op of listed) {
      const [method, path] = op.split(" ");
      expect(doc.paths[path][method.toLowerCase()]["x-access"], op).toBe(ACCESS[op]);
    }
  });

  it("refuses or hides B's resources on every operation, leaks none of them, and leaves B's state as it was", async () => {
    const before = await stateOfB();
    const apiViewBefore = await call("GET", "/v1/instances?limit=1000", undefined, bearer(b.apiKey));
    const keys = a.keys ?? [a.apiKey];
    let n = 0;
    const wrong: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of METHODS) {
        const op = item[method];
        if (!op) continue;
        const schema = op.requestBody?.content["application/json"]?.schema;
        const sampled = schema ? sample(schema, doc) : undefined;
        // A body that names a VPC names one of A's own: the document's example id is nobody's.
        const body =
          sampled && typeof sampled === "object" && !Array.isArray(sampled)
            ? Object.fromEntries(
                Object.entries(sampled).map(([k, v]) => [
                  k,
                  k in ownNet ? ownNet[k as keyof typeof ownNet] : v,
                ]),
              )
            : sampled;
        // A launch without a zone could be placed on B's host and make it A's to see: keep A's
        // launches on the host both use.
        if (method === "post" && path === "/v1/instances" && body && typeof body === "object")
          Object.assign(body, { availabilityZone: sharedZone });
        for (const target of targets(path)) {
          for (const query of queries(op)) {
            let url = `${target.reduce((p, id) => p.replace(/\{\w+\}/, id), path)}${query}`;
            // The stream stays open for maxSeconds; a second of it holds all the log A may see.
            const streamed = path === "/v1/events/stream";
            if (streamed) url += `${url.includes("?") ? "&" : "?"}maxSeconds=1`;
            const res = streamed
              ? await readStream(url, keys[n++ % keys.length])
              : await call<{ code?: string }>(
                  method.toUpperCase(),
                  url,
                  body,
                  bearer(keys[n++ % keys.length]),
                );
            const what = `${method.toUpperCase()} ${url} -> ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`;
            const named = target.length > 0 && target[0] !== sharedHost;
            if (op["x-access"] === "admin") {
              if (res.status !== 403) wrong.push(`${what}: expected 403`);
            } else if (named) {
              if (res.status !== 404 || !res.body?.code?.endsWith(".NotFound"))
                wrong.push(`${what}: expected 404`);
            } else if (res.status >= 300) {
              wrong.push(`${what}: expected a success on A's own ground`);
            }
            // Nothing of B's in any answer, but what A itself put in the request.
            const text = JSON.stringify(res.body);
            const sent = `${url} ${JSON.stringify(body)}`;
            for (const s of secrets)
              if (!sent.includes(s) && text.includes(s)) wrong.push(`${what}: names ${s}`);
            const now = await stateOfB();
            if (JSON.stringify(now) !== JSON.stringify(before)) wrong.push(`${what}: changed B's state`);
          }
        }
      }
    }
    expect(wrong).toEqual([]);
    // Enough calls to mean something: every operation, B's three instances on each instance route.
    expect(n).toBeGreaterThan(Object.keys(ACCESS).length);
    const apiViewAfter = await call("GET", "/v1/instances?limit=1000", undefined, bearer(b.apiKey));
    expect(apiViewAfter.body).toEqual(apiViewBefore.body);
    expect((await call("GET", "/v1/accounts/me", undefined, bearer(b.apiKey))).status).toBe(200);
    // The admin can still see all of B's: nothing was hidden by being destroyed.
    const operator = await call<{ instances: InstanceBody[] }>(
      "GET",
      "/v1/instances?limit=1000",
      undefined,
      bearer(ADMIN_KEY),
    );
    for (const id of theirs.instances) expect(operator.body.instances.map((i) => i.instanceId)).toContain(id);
  });
});
