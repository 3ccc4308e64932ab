// No operator access: a guest writes a secret into its memory, a block of its volume and a file of
// its shared file system, and every operation of /openapi.json is called with the admin key (and
// with another account's key) against the guest's instance, volume, snapshot, file system, open
// file, storage node, host and account, looking for each secret in the answer: as text, base64 (at
// every alignment, either alphabet) or hex. Only the owner's own reads find them, which proves the
// search can succeed.
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import {
  ADMIN_KEY,
  addHosts,
  advance,
  bearer,
  call,
  freshZone,
  type InstanceBody,
  launch,
  newTenant,
  raw,
  type Tenant,
} from "./helpers";
import { type Doc, operations, sample } from "./openapi";

let doc: Doc;
let owner: Tenant;
let other: Tenant;
let instance: InstanceBody;
let hostId = "";
let spareKeyId = "";
let frameHpa = "";
/** The owner's volume (attached, one block holding BLOCK_SECRET), its snapshot, and a node holding a copy. */
const storage = { volumeId: "", snapshotId: "", nodeId: "", fileSystemId: "", handleId: "" };
const BLOCK_N = 5;
/** The owner's network resources by the path segment that names them (a placeholder where it has none). */
const network: Record<string, string> = {};

async function ownersFirst(table: string, prefix: string): Promise<string> {
  const row = await env.DB.prepare(`SELECT id FROM ${table} WHERE account_id = ? ORDER BY id LIMIT 1`)
    .bind(owner.accountId)
    .first<{ id: string }>();
  return row?.id ?? `${prefix}-00000000000000000`;
}
const SECRET = `guest-secret-${crypto.randomUUID()}`;
const BLOCK_SECRET = `block-secret-${crypto.randomUUID()}`;
const FILE_SECRET = `file-secret-${crypto.randomUUID()}`;
const SECRETS = [SECRET, BLOCK_SECRET, FILE_SECRET];
const FILE_PATH = "/owner/secret.txt";

/** A 4 KiB block holding the marker at its start and again at an odd offset, zeros elsewhere. */
function markedBlock(marker: string): string {
  const b = new Uint8Array(4096);
  const m = new TextEncoder().encode(marker);
  b.set(m, 0);
  b.set(m, 1001);
  return Buffer.from(b).toString("base64");
}

/** Every way the secret could be carried in a JSON answer. */
function disguises(secret: string): string[] {
  const out = [
    secret,
    Buffer.from(secret).toString("hex"),
    Buffer.from(secret).toString("hex").toUpperCase(),
  ];
  for (let pad = 0; pad < 3; pad++) {
    const b64 = Buffer.from("x".repeat(pad) + secret).toString("base64");
    // The middle of the encoding does not depend on what surrounds the secret.
    const core = b64.slice(Math.ceil((pad * 4) / 3) + 4, -8);
    out.push(core, core.replaceAll("+", "-").replaceAll("/", "_"));
  }
  return out;
}

function fill(path: string): string {
  return path.replace(/\{(\w+)\}/g, (_m, _name, at: number) => {
    const kind = path.slice(0, at).split("/").filter(Boolean).pop();
    switch (kind) {
      case "instances":
        return instance.instanceId;
      case "hosts":
        return hostId;
      case "accounts":
        return owner.accountId;
      case "keys":
        return spareKeyId;
      case "volumes":
        return storage.volumeId;
      case "snapshots":
        return storage.snapshotId;
      case "storage-nodes":
        return storage.nodeId;
      case "filesystems":
        return storage.fileSystemId;
      case "handles":
        return storage.handleId;
      case "blocks":
        return String(BLOCK_N);
      case "vpcs":
      case "subnets":
      case "security-groups":
      case "network-interfaces":
      case "vpc-peering-connections":
      case "rules":
        return network[kind];
      default:
        // Resources of kinds that hold no guest data (events, subscriptions, alarms): a well-formed
        // id that names none; the call still reaches the operation.
        return "00000000-0000-4000-8000-000000000000";
    }
  });
}

function query(op: Doc["paths"][string][string]): string {
  const known: Record<string, string> = {
    instanceId: instance.instanceId,
    hostId,
    hpa: frameHpa,
    path: FILE_PATH,
  };
  const parts = (op.parameters ?? [])
    .filter((p) => p.in === "query")
    .filter((p) => p.required || known[p.name])
    .map((p) => `${p.name}=${encodeURIComponent(String(known[p.name] ?? sample(p.schema, doc)))}`);
  return parts.length ? `?${parts.join("&")}` : "";
}

/**
 * One call's status and text. A stream (the event stream) is read for its first chunks only: it
 * stays open by design, and what it would carry later is what the event list carries now.
 */
async function answer(method: string, path: string, body: unknown, key: string) {
  const init: RequestInit = { method, headers: { ...bearer(key) } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] = "application/json";
  }
  const res = await exports.default.fetch(new Request(`http://fleet.test${path}`, init));
  if (!res.headers.get("content-type")?.startsWith("text/event-stream"))
    return { status: res.status, text: await res.text() };
  const reader = res.body!.getReader();
  let text = "";
  const until = Date.now() + 500;
  while (Date.now() < until) {
    const next = await Promise.race([
      reader.read(),
      new Promise<null>((r) => setTimeout(() => r(null), 200)),
    ]);
    if (!next || next.done) break;
    text += new TextDecoder().decode(next.value);
  }
  await reader.cancel();
  return { status: res.status, text };
}

/** Storage nodes in three racks, the owner's volume with a marked block and a snapshot, and a file system with a marked file. */
async function ownersStorage(zone: string) {
  const as = bearer(owner.apiKey);
  for (let r = 1; r <= 3; r++) {
    const node = await call("POST", "/v1/storage-nodes", { availabilityZone: zone, rack: `${zone}-s${r}` });
    expect(node.status).toBe(201);
  }
  const v = await call<{ volumeId: string; replicas: Array<{ nodeId: string }> }>(
    "POST",
    "/v1/volumes",
    { availabilityZone: zone, volumeType: "gp3", sizeGiB: 8 },
    as,
  );
  expect(v.status).toBe(201);
  storage.volumeId = v.body.volumeId;
  storage.nodeId = v.body.replicas[0].nodeId;
  const at = await call(
    "POST",
    `/v1/volumes/${storage.volumeId}/attach`,
    { instanceId: instance.instanceId, device: "/dev/sdf" },
    as,
  );
  expect(at.status).toBe(200);
  const w = await call(
    "PUT",
    `/v1/volumes/${storage.volumeId}/blocks/${BLOCK_N}`,
    { data: markedBlock(BLOCK_SECRET) },
    as,
  );
  expect(w.status).toBe(200);
  const snap = await call<{ snapshotId: string }>(
    "POST",
    `/v1/volumes/${storage.volumeId}/snapshots`,
    {},
    as,
  );
  expect(snap.status).toBe(201);
  storage.snapshotId = snap.body.snapshotId;

  const fs = await call<{ fileSystemId: string }>("POST", "/v1/filesystems", { name: "owner" }, as);
  expect(fs.status).toBe(201);
  storage.fileSystemId = fs.body.fileSystemId;
  const mt = await call(
    "POST",
    `/v1/filesystems/${fs.body.fileSystemId}/mount-targets`,
    { availabilityZone: zone },
    as,
  );
  expect(mt.status).toBe(201);
  const open = (mode: "read" | "write") =>
    call<{ handleId: string }>(
      "POST",
      `/v1/filesystems/${storage.fileSystemId}/open`,
      { instanceId: instance.instanceId, path: FILE_PATH, mode },
      as,
    );
  const wh = await open("write");
  expect(wh.status).toBe(201);
  const put = await call(
    "PUT",
    `/v1/filesystems/${storage.fileSystemId}/handles/${wh.body.handleId}`,
    { data: btoa(FILE_SECRET) },
    as,
  );
  expect(put.status).toBe(200);
  expect(
    (
      await call(
        "POST",
        `/v1/filesystems/${storage.fileSystemId}/handles/${wh.body.handleId}/close`,
        undefined,
        as,
      )
    ).status,
  ).toBe(200);
  // A handle left open for reading: the walk tries to read the file through it.
  const rh = await open("read");
  expect(rh.status).toBe(201);
  storage.handleId = rh.body.handleId;
}

describe("no operator access to guest data", () => {
  beforeAll(async () => {
    doc = (await raw<Doc>("GET", "/openapi.json")).body;
    owner = await newTenant("owner");
    other = await newTenant("other");
    const zone = freshZone();
    [{ hostId }] = await addHosts(zone, "m5", 1);
    const r = await launch({ instanceType: "m5.large", availabilityZone: zone }, bearer(owner.apiKey));
    instance = r.body.instances[0];
    await advance(60);
    for (const address of ["0x400000", "0x7f0000401f00"]) {
      const w = await call<{ hpa: string }>(
        "POST",
        `/v1/instances/${instance.instanceId}/memory/write`,
        { address, data: btoa(SECRET) },
        bearer(owner.apiKey),
      );
      expect(w.status).toBe(200);
      frameHpa = w.body.hpa;
    }
    const spare = await call<{ keyId: string }>(
      "POST",
      `/v1/accounts/${owner.accountId}/keys`,
      { name: "spare" },
      bearer(owner.apiKey),
    );
    spareKeyId = spare.body.keyId;
    await ownersStorage(zone);
    network.vpcs = await ownersFirst("vpcs", "vpc");
    network.subnets = await ownersFirst("subnets", "subnet");
    network["security-groups"] = await ownersFirst("security_groups", "sg");
    network["network-interfaces"] = await ownersFirst("network_interfaces", "eni");
    network["vpc-peering-connections"] = "pcx-00000000000000000";
    network.rules = "sgr-00000000000000000";
  });

  it("gives the secret back to its owner, from memory that holds it only as ciphertext", async () => {
    const read = await call<{ data: string }>(
      "POST",
      `/v1/instances/${instance.instanceId}/memory/read`,
      { address: "0x400000", length: SECRET.length },
      bearer(owner.apiKey),
    );
    expect(read.status).toBe(200);
    const text = JSON.stringify(read.body);
    expect(disguises(SECRET).some((d) => text.includes(d))).toBe(true);
    // The host's view of the same frame: encrypted, and not the secret in any form.
    const frame = await call<{ encrypted: boolean; ownerId: string }>(
      "GET",
      `/v1/hosts/${hostId}/frame?hpa=${frameHpa}`,
    );
    expect(frame.status).toBe(200);
    expect(frame.body.encrypted).toBe(true);
    expect(frame.body.ownerId).toBe(instance.instanceId);
  });

  it("gives the block and file secrets back to their owner, so the search can find them", async () => {
    const as = bearer(owner.apiKey);
    const block = await call("GET", `/v1/volumes/${storage.volumeId}/blocks/${BLOCK_N}`, undefined, as);
    expect(block.status).toBe(200);
    expect(disguises(BLOCK_SECRET).some((d) => JSON.stringify(block.body).includes(d))).toBe(true);
    const file = await call(
      "GET",
      `/v1/filesystems/${storage.fileSystemId}/handles/${storage.handleId}`,
      undefined,
      as,
    );
    expect(file.status).toBe(200);
    expect(disguises(FILE_SECRET).some((d) => JSON.stringify(file.body).includes(d))).toBe(true);
  });

  it("finds the secret in no answer of any operation called with the admin key or another account's", async () => {
    const leaks: string[] = [];
    const codes = new Map<string, number>();
    const list = await call<{ entries: Array<{ stage: string; digest: string; description: string }> }>(
      "GET",
      "/v1/admin/boot-allow-list",
    );
    let n = 0;
    for (const { method, path, op } of operations(doc)) {
      const schema = op.requestBody?.content["application/json"]?.schema;
      let body = schema ? sample(schema, doc) : undefined;
      // Keep the fleet's allow-list as it is: an empty one would quarantine every host.
      if (path === "/v1/admin/boot-allow-list" && method === "PUT") body = { entries: list.body.entries };
      for (const key of [ADMIN_KEY, other.apiKey]) {
        const res = await answer(method, `${fill(path)}${query(op)}`, body, key);
        n++;
        codes.set(`${key === ADMIN_KEY ? "admin" : "other"} ${method} ${path}`, res.status);
        const text = res.text;
        for (const secret of SECRETS)
          for (const d of disguises(secret))
            if (text.includes(d)) leaks.push(`${method} ${path} -> ${res.status}: ${d}`);
      }
    }
    expect(leaks).toEqual([]);
    expect(n).toBe(2 * operations(doc).length);
    // The walk reached the routes that could have leaked: the host's frame view answered the admin,
    // the owner's read refused both.
    expect(codes.get("admin GET /v1/hosts/{id}/frame")).toBe(200);
    expect(codes.get("admin POST /v1/instances/{id}/memory/read")).toBe(403);
    expect(codes.get("other POST /v1/instances/{id}/memory/read")).toBe(404);
    expect(codes.get("admin GET /v1/hosts/{id}/isolation")).toBe(200);
    expect(codes.get("admin GET /v1/volumes/{id}")).toBe(200);
    expect(codes.get("admin GET /v1/snapshots/{id}")).toBe(200);
    expect(codes.get("admin GET /v1/storage-nodes/{id}")).toBe(200);
    expect(codes.get("admin GET /v1/filesystems/{id}")).toBe(200);
    expect(codes.get("admin GET /v1/volumes/{id}/blocks/{n}")).toBe(403);
    expect(codes.get("other GET /v1/volumes/{id}/blocks/{n}")).toBe(404);
    expect(codes.get("admin GET /v1/filesystems/{id}/handles/{handleId}")).toBe(403);
    expect(codes.get("other GET /v1/filesystems/{id}/handles/{handleId}")).toBe(404);
    // And the secret is still there for its owner afterwards.
    const again = await call<{ data: string }>(
      "POST",
      `/v1/instances/${instance.instanceId}/memory/read`,
      { address: "0x400000", length: SECRET.length },
      bearer(owner.apiKey),
    );
    expect(atob(again.body.data)).toBe(SECRET);
    const block = await call<{ data: string }>(
      "GET",
      `/v1/volumes/${storage.volumeId}/blocks/${BLOCK_N}`,
      undefined,
      bearer(owner.apiKey),
    );
    expect(block.body.data).toBe(markedBlock(BLOCK_SECRET));
  });
});
