// Random requests at every operation of /openapi.json: random path ids, query strings,
// bodies, keys and content types. No answer may be a 5xx (but the 503 a launch or a new
// volume gets when capacity runs out, EC2's retryable InsufficientInstanceCapacity and
// InsufficientVolumeCapacity), every refusal is
// problem+json, and no 4xx may change anything: D1's rows and the host objects' records
// are compared before and after each one.
import { env, exports } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { ACCESS } from "../../src/api/access";
import {
  ADMIN_KEY,
  addHosts,
  advance,
  bearer,
  call,
  freshZone,
  hostView,
  launch,
  newTenant,
  raw,
  type Tenant,
  withKeys,
} from "./helpers";
import { bodySchema, type Doc, type Operation, operations, resolve, sample } from "./openapi";

/** Requests per operation; every operation gets this many (raise it to search harder). */
const RUNS = 10;

let doc: Doc;
let a: Tenant;
let b: Tenant;
let revoked = "";
const ids = {
  instances: [] as string[],
  hosts: [] as string[],
  accounts: [] as string[],
  keys: [] as string[],
};

/** Everything a request could change: D1's rows and every host object's own view. */
/** Routes whose accepted requests leave work for a queue consumer to do after their answer. */
const BACKGROUND_WORK = /\/(migrate|migrations|evacuate|admin\/clock)/;

/** The state once it has stayed the same for one queue batch timeout (at most about 8 s). */
async function settled(last: string): Promise<string> {
  for (let i = 0; i < 6; i++) {
    await new Promise((r) => setTimeout(r, 1_300));
    const now = await snapshot();
    if (now === last) return now;
    last = now;
  }
  return last;
}

async function snapshot(): Promise<string> {
  const rows = async (sql: string) => (await env.DB.prepare(sql).all()).results;
  const hosts = (await rows("SELECT id FROM hosts ORDER BY id")) as { id: string }[];
  const objects = [];
  for (const h of hosts) {
    // A host row whose object was never made has no view to read.
    const view = (await env.HOST.getByName(h.id).reconcileView()) ? await hostView(h.id) : null;
    objects.push(
      view && { vms: view.vms, held: view.heldIds, state: view.usage.state, used: view.usage.capacity },
    );
  }
  return JSON.stringify({
    instances: await rows(
      "SELECT id, account_id, state, version, host_id, workload, claim FROM instances ORDER BY id",
    ),
    hosts: await rows("SELECT id, state, used_vcpus, used_memory_mib, vm_count FROM hosts ORDER BY id"),
    accounts: await rows("SELECT * FROM accounts ORDER BY id"),
    keys: await rows("SELECT id, account_id, revoked_at FROM api_keys ORDER BY id"),
    tokens: await rows("SELECT * FROM client_tokens ORDER BY account_id, token"),
    events: await rows("SELECT count(*) AS n FROM events"),
    clock: await rows("SELECT * FROM sim_clock"),
    volumes: await rows("SELECT id, state, health, version, write_seq FROM volumes ORDER BY id"),
    replicas: await rows("SELECT * FROM volume_replicas ORDER BY volume_id, node_id"),
    attachments: await rows("SELECT * FROM volume_attachments ORDER BY volume_id, instance_id"),
    snapshots: await rows("SELECT id, state FROM snapshots ORDER BY id"),
    storageNodes: await rows("SELECT * FROM storage_nodes ORDER BY id"),
    fileSystems: await rows("SELECT * FROM filesystems ORDER BY id"),
    mountTargets: await rows("SELECT id FROM mount_targets ORDER BY id"),
    files: await rows("SELECT filesystem_id, path, version FROM fs_files ORDER BY filesystem_id, path"),
    handles: await rows("SELECT id, dirty FROM fs_handles ORDER BY id"),
    objects,
  });
}

/** The first chunk of a streamed answer; then the client hangs up. */
async function firstChunk(res: Response): Promise<string> {
  const reader = res.body?.pipeThrough(new TextDecoderStream()).getReader();
  if (!reader) return "";
  const { value } = await reader.read();
  await reader.cancel();
  return value ?? "";
}

const hex17 = fc.stringMatching(/^[0-9a-f]{17}$/);
const nasty = fc.constantFrom(
  "",
  "..",
  "%",
  "%zz",
  "%00",
  "i-",
  "null",
  "0",
  "-1",
  "1e9",
  "💥",
  "a/b",
  "?x=1",
  "'\"<>",
);

/** An id for a path parameter: one that exists (anyone's), one well formed, or rubbish. */
const pathId = () =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...ids.instances, ...ids.hosts, ...ids.accounts, ...ids.keys) },
    hex17.map((h) => `i-${h}`),
    hex17.map((h) => `h-${h}`),
    hex17.map((h) => `key-${h}`),
    fc.stringMatching(/^[0-9]{12}$/),
    fc.string({ maxLength: 40 }),
    nasty,
  );

const knownQuery = [
  "limit",
  "cursor",
  "state",
  "instanceType",
  "hostId",
  "instanceId",
  "availabilityZone",
  "tag",
  "type",
  "family",
  "hypervisor",
  "workload",
  "windowSeconds",
  "minVcpus",
  "memoryOvercommit",
];
const queryValue = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.integer({ min: -5, max: 5000 }).map(String),
  fc.constantFrom("running", "pending,stopped", "m5.large", "xen", "nitro", "io_intensive", "true", "1e400"),
  nasty,
);
const query = fc.array(
  fc.tuple(fc.oneof(fc.constantFrom(...knownQuery), fc.string({ maxLength: 10 })), queryValue),
  {
    maxLength: 4,
  },
);

const json = fc.jsonValue({ maxDepth: 4 });

/** Values for the fields the API's bodies have, near and past their bounds. */
const FIELDS: Record<string, fc.Arbitrary<unknown>> = {
  instanceType: fc.constantFrom("m5.large", "c5.xlarge", "m5.24xlarge", "m4.large", "x1.huge", ""),
  minCount: fc.integer({ min: -1, max: 1001 }),
  maxCount: fc.integer({ min: -1, max: 1001 }),
  availabilityZone: fc.constantFrom("us-east-1a", "zz-nowhere-1a", "", "moon"),
  placementStrategy: fc.constantFrom("binpack", "spread", "random"),
  clientToken: fc.oneof(fc.constantFrom("t-1", "t-2"), fc.string({ maxLength: 70 })),
  tags: fc.dictionary(fc.string({ maxLength: 130 }), fc.string({ maxLength: 10 }), { maxKeys: 3 }),
  workload: fc.oneof(fc.constantFrom("idle", "cpu_intensive", "nope"), json),
  paging: fc.oneof(fc.record({ guestLevels: fc.integer({ min: 3, max: 6 }) }), json),
  profile: fc.oneof(fc.constantFrom("idle", "bursty"), json),
  address: fc.oneof(fc.constantFrom("0x7f0000401000", "0xffffffffffffffffff", "-1", "0x"), fc.string()),
  addressSpace: fc.integer({ min: -1, max: 5000 }),
  vcpu: fc.integer({ min: -1, max: 300 }),
  write: fc.oneof(fc.boolean(), json),
  seconds: fc.oneof(fc.double(), fc.integer({ min: -10, max: 10 })),
  mode: fc.constantFrom("manual", "scaled", "fast"),
  scale: fc.double(),
  repair: fc.oneof(fc.boolean(), json),
  state: fc.constantFrom("available", "failed", "maintenance", "retired", "gone"),
  name: fc.string({ maxLength: 80 }),
  family: fc.constantFrom("m5", "z9"),
  sockets: fc.integer({ min: -1, max: 10 }),
  memoryMiB: fc.integer({ min: 0, max: 20_000_000 }),
};

/** Bodies for one operation: its smallest valid body with fields changed or added, or rubbish. */
function bodyFor(op: Operation): fc.Arbitrary<string | undefined> {
  const rubbish = fc.oneof(
    json.map((v) => JSON.stringify(v)),
    fc.string({ maxLength: 200 }),
    fc.constantFrom("{", "[]", "null", '{"a":', "\u0000", '{"__proto__":{"x":1}}'),
  );
  const schema = bodySchema(op);
  if (!schema) return fc.oneof(fc.constant(undefined), rubbish);
  const valid = sample(schema, doc) as Record<string, unknown>;
  const fields = Object.keys(resolve(schema, doc).properties ?? {});
  const changed = fc
    .subarray(fields)
    .chain((keys) => fc.tuple(...keys.map((k) => FIELDS[k] ?? json)).map((vs) => ({ keys, vs })))
    .map(({ keys, vs }) =>
      JSON.stringify({ ...valid, ...Object.fromEntries(keys.map((k, i) => [k, vs[i]])) }),
    );
  const extra = fc
    .tuple(fc.string({ maxLength: 12 }), json)
    .map(([k, v]) => JSON.stringify({ ...valid, [k]: v }));
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(JSON.stringify(valid)) },
    { weight: 4, arbitrary: changed },
    { weight: 1, arbitrary: extra },
    { weight: 2, arbitrary: rubbish },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
}

const contentType = fc.constantFrom(
  undefined,
  "application/json",
  "application/json; charset=utf-8",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/problem+json",
  "garbage",
);

describe("random requests at every operation", () => {
  beforeAll(async () => {
    doc = (await raw<Doc>("GET", "/openapi.json")).body;
    a = await withKeys(await newTenant("a"), 4);
    b = await withKeys(await newTenant("b"), 4);
    const zone = freshZone();
    const hosts = await addHosts(zone, "m5", 2);
    // Zones the random launches name land on these hosts too.
    hosts.push(...(await addHosts("us-east-1a", "m5", 1)));
    ids.hosts.push(...hosts.map((h) => h.hostId));
    // Storage nodes in three racks of the zone the document's examples name, so that a valid new
    // volume there is made (and one elsewhere meets InsufficientVolumeCapacity).
    for (let r = 1; r <= 3; r++) {
      await call(
        "POST",
        "/v1/storage-nodes",
        { availabilityZone: "us-east-1a", rack: `fuzz-s${r}` },
        bearer(ADMIN_KEY),
      );
    }
    for (const t of [a, b]) {
      const res = await launch(
        { instanceType: "m5.large", availabilityZone: zone, maxCount: 2 },
        bearer(t.apiKey),
      );
      ids.instances.push(...res.body.instances.map((i) => i.instanceId));
      ids.accounts.push(t.accountId);
      ids.keys.push(t.keyId);
    }
    await advance(60);
    expect(
      (await call("POST", `/v1/instances/${ids.instances[1]}/stop`, undefined, bearer(a.apiKey))).status,
    ).toBe(200);
    await advance(60);
    const spare = await call<{ apiKey: string; keyId: string }>(
      "POST",
      `/v1/accounts/${a.accountId}/keys`,
      {},
      bearer(a.apiKey),
    );
    revoked = spare.body.apiKey;
    await call("DELETE", `/v1/keys/${spare.body.keyId}`, undefined, bearer(a.apiKey));
  });

  it("answers every operation without a server error, and changes nothing when it refuses", {
    timeout: 900_000,
  }, async () => {
    const ops = operations(doc);
    expect(ops.length).toBe(Object.keys(ACCESS).length);
    const keys = (t: Tenant) => t.keys ?? [t.apiKey];
    // Mostly good keys, so that most requests get past authentication to the operation.
    const authorization = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...keys(a), ...keys(b)).map((k) => `Bearer ${k}`) },
      { weight: 3, arbitrary: fc.constant(`Bearer ${ADMIN_KEY}`) },
      { weight: 1, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.constant(`Bearer ${revoked}`) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          "Bearer",
          "Bearer ",
          "bearer  x",
          "Basic dXNlcjpwYXNz",
          "hfk_",
          `Bearer ${ADMIN_KEY}x`,
        ),
      },
      { weight: 1, arbitrary: fc.string({ maxLength: 60 }).map((s) => `Bearer ${s}`) },
    );
    let state = await snapshot();
    let requests = 0;
    const statuses = new Map<number, number>();

    for (const op of ops) {
      const method = fc.oneof(
        { weight: 6, arbitrary: fc.constant(op.method) },
        { weight: 1, arbitrary: fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD") },
      );
      await fc.assert(
        fc.asyncProperty(
          method,
          fc.array(pathId(), { minLength: 2, maxLength: 2 }),
          query,
          bodyFor(op.op),
          authorization,
          contentType,
          async (m, pathIds, q, payload, auth, type) => {
            let n = 0;
            const path = op.path.replace(/\{\w+\}/g, () => encodeURIComponent(pathIds[n++]));
            const qs = q.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
            const headers: Record<string, string> = {};
            if (auth !== undefined) headers.authorization = auth;
            if (type !== undefined) headers["content-type"] = type;
            const withBody = payload !== undefined && m !== "GET" && m !== "HEAD";
            const res = await exports.default.fetch(
              new Request(`http://fleet.test${path}${qs ? `?${qs}` : ""}`, {
                method: m,
                headers,
                body: withBody ? payload : undefined,
              }),
            );
            requests++;
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
            // A stream (the SSE route) is judged by its answer and its first chunk: it stays open.
            const text = res.headers.get("content-type")?.startsWith("text/event-stream")
              ? await firstChunk(res)
              : await res.text();
            const what = `${m} ${path}?${qs} [${auth ?? "no key"}; ${type}] ${payload ?? ""} -> ${res.status} ${text.slice(0, 300)}`;
            const capacity =
              res.status === 503 &&
              (text.includes('"InsufficientInstanceCapacity"') ||
                text.includes('"InsufficientVolumeCapacity"') ||
                text.includes('"InsufficientHostCapacity"'));
            // The one 5xx the API promises is a refusal as well: it too must change nothing.
            const refused = res.status >= 400;
            expect(res.status < 500 || capacity, what).toBe(true);
            if (res.status >= 400 && m !== "HEAD") {
              expect(res.headers.get("content-type"), what).toBe("application/problem+json");
              const problem = JSON.parse(text) as { status: number; code: string };
              expect(problem.status, what).toBe(res.status);
              expect(typeof problem.code, what).toBe("string");
            }
            let now = await snapshot();
            if (refused) expect(now, `${what}: a refusal changed something`).toBe(state);
            // A migration started, cancelled or moved on by the clock goes on from the migrations
            // queue after its answer (its next step within the queue's 1 s batch timeout): it is
            // let settle, so that it does not land in a later refusal's check.
            if (!refused && BACKGROUND_WORK.test(path)) now = await settled(now);
            state = now;
          },
        ),
        { numRuns: RUNS },
      );
    }
    expect(requests).toBe(ops.length * RUNS);
    // Random requests are mostly refused, but not all of them: some must get through.
    expect([...statuses.keys()].some((s) => s < 300)).toBe(true);
  });
});
