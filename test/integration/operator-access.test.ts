// No operator access: a guest writes a secret into its memory, and every operation of /openapi.json
// is called with the admin key (and with another account's key) against the guest's instance, its
// host and its account, looking for the secret in the answer: as text, base64 (at every alignment,
// either alphabet) or hex. Only the owner's own read finds it, which proves the search can succeed.
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
/** The owner's network resources by the path segment that names them (a placeholder where it has none). */
const network: Record<string, string> = {};

async function ownersFirst(table: string, prefix: string): Promise<string> {
  const row = await env.DB.prepare(`SELECT id FROM ${table} WHERE account_id = ? ORDER BY id LIMIT 1`)
    .bind(owner.accountId)
    .first<{ id: string }>();
  return row?.id ?? `${prefix}-00000000000000000`;
}
const SECRET = `guest-secret-${crypto.randomUUID()}`;

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
  const known: Record<string, string> = { instanceId: instance.instanceId, hostId, hpa: frameHpa };
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
        for (const d of disguises(SECRET))
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
    // And the secret is still there for its owner afterwards.
    const again = await call<{ data: string }>(
      "POST",
      `/v1/instances/${instance.instanceId}/memory/read`,
      { address: "0x400000", length: SECRET.length },
      bearer(owner.apiKey),
    );
    expect(atob(again.body.data)).toBe(SECRET);
  });
});
