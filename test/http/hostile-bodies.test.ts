// A bounded load test over the real HTTP server: oversized, chunked and truncated bodies
// sent between ordinary requests, none of which may go unanswered.
import { beforeAll, describe, expect, inject, it } from "vitest";
import { chunked, type RawRequest, send } from "./raw";

const base = inject("httpBase");
const adminKey = inject("adminKey");
/** The tenant every launch here belongs to, made in beforeAll. */
let tenantKey = "";
const ZONE = "us-east-1a";
const LIMIT = 64 * 1024;

/** A launch padded with whitespace to `bytes`: a refused body, had it been read, would launch. */
function launchBody(bytes: number): Buffer {
  const launch = `{"instanceType":"m5.large","availabilityZone":"${ZONE}"`;
  return Buffer.from(`${launch}${" ".repeat(Math.max(0, bytes - launch.length - 1))}}`);
}

const json = { "content-type": "application/json" };
const te = { ...json, "transfer-encoding": "chunked" };
const big = launchBody(LIMIT + 5000);

/** The hostile requests, each with what it must be answered (null: the client hung up). */
const hostile: { name: string; req: RawRequest; expect: number | null }[] = [
  {
    name: "oversized, chunked",
    req: {
      method: "POST",
      path: "/v1/instances",
      headers: te,
      body: chunked(big, 8192, true),
      ending: "answer",
    },
    expect: 413,
  },
  {
    name: "oversized, with a length",
    req: {
      method: "POST",
      path: "/v1/instances",
      headers: { ...json, "content-length": String(big.length) },
      body: [big],
      ending: "answer",
    },
    expect: 413,
  },
  {
    name: "chunked, within the limit",
    req: {
      method: "POST",
      path: "/v1/admin/reconcile",
      headers: te,
      body: chunked(Buffer.from("{}"), 1, true),
      ending: "answer",
    },
    expect: 200,
  },
  {
    name: "oversized, chunked, cut short",
    req: {
      method: "POST",
      path: "/v1/instances",
      headers: te,
      body: chunked(big, 8192, false),
      ending: "hang up",
    },
    expect: null,
  },
  {
    name: "chunked, cut short",
    req: {
      method: "POST",
      path: "/v1/instances",
      headers: te,
      // Cut inside the JSON: the dev server passes a chunked body that stops at a chunk's end
      // on as if it were whole, so only a cut there shows whether a cut body can launch.
      body: chunked(launchBody(2000).subarray(0, 1000), 256, false),
      ending: "hang up",
    },
    expect: null,
  },
  {
    name: "shorter than its length",
    req: {
      method: "POST",
      path: "/v1/instances",
      headers: { ...json, "content-length": "2000" },
      body: [launchBody(2000).subarray(0, 300)],
      ending: "hang up",
    },
    expect: null,
  },
];

let hostId = "";

/**
 * The ordinary requests, in turn: mostly POSTs, which the dev server does not retry when its
 * connection to the Worker fails.
 */
const ordinary: { name: string; call: () => Promise<Response>; expect: number }[] = [
  { name: "reconcile", call: () => post("/v1/admin/reconcile", {}), expect: 200 },
  {
    name: "launch",
    call: () => post("/v1/instances", { instanceType: "m5.large", availabilityZone: ZONE }),
    expect: 201,
  },
  { name: "clock advance", call: () => post("/v1/admin/clock/advance", { seconds: 1 }), expect: 200 },
  {
    name: "host read",
    call: () =>
      fetch(`${base}/v1/hosts/${hostId}`, { headers: auth(`/v1/hosts`), signal: AbortSignal.timeout(5000) }),
    expect: 200,
  },
];

/** Launches and lists go as the tenant; hosts, the clock and reconcile as the admin. */
function auth(path: string): { authorization: string } {
  return { authorization: `Bearer ${path.startsWith("/v1/instances") ? tenantKey : adminKey}` };
}

/** A hostile request with the key its path takes, so that only its body can refuse it. */
const keyed = (req: RawRequest): RawRequest => ({ ...req, headers: { ...req.headers, ...auth(req.path) } });

function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: "POST",
    headers: { ...json, ...auth(path) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
}

/** "ok", or what came instead of the expected answer. */
async function answered(o: (typeof ordinary)[number]): Promise<string> {
  try {
    const res = await o.call();
    const text = await res.text();
    return res.status === o.expect ? "ok" : `${res.status} ${text.slice(0, 120)}`;
  } catch (err) {
    return String(err);
  }
}

async function instanceCount(): Promise<number> {
  const res = await fetch(`${base}/v1/instances?limit=1000`, { headers: auth("/v1/instances") });
  return ((await res.json()) as { instances: unknown[] }).instances.length;
}

describe("the HTTP server under hostile bodies", () => {
  beforeAll(async () => {
    const account = await post("/v1/accounts", { name: "hostile-bodies" });
    expect(account.status).toBe(201);
    tenantKey = ((await account.json()) as { key: { apiKey: string } }).key.apiKey;
    const res = await post("/v1/hosts", { availabilityZone: ZONE, family: "m5" });
    expect(res.status).toBe(201);
    hostId = ((await res.json()) as { hostId: string }).hostId;
  });

  it("answers every ordinary request sent between oversized, chunked and truncated bodies", async () => {
    const before = await instanceCount();
    const wrong: string[] = [];
    let launched = 0;
    const rounds = 3 * hostile.length;
    for (let i = 0; i < rounds; i++) {
      const h = hostile[i % hostile.length];
      const got = await send(base, keyed(h.req));
      if (h.expect !== null && got !== h.expect) wrong.push(`${h.name}: ${got}, expected ${h.expect}`);
      const o = ordinary[i % ordinary.length];
      const answer = await answered(o);
      if (answer !== "ok") wrong.push(`${o.name} after ${h.name}: ${answer}`);
      else if (o.name === "launch") launched++;
    }
    expect(wrong).toEqual([]);
    // Nothing refused or cut short launched anything.
    expect(await instanceCount()).toBe(before + launched);
  });

  it("answers every ordinary request sent together with hostile ones", async () => {
    const wrong: string[] = [];
    await Promise.all(
      hostile.flatMap((h, i) => {
        const o = ordinary[i % ordinary.length];
        return [
          send(base, keyed(h.req)).then((got) => {
            if (h.expect !== null && got !== h.expect) wrong.push(`${h.name}: ${got}, expected ${h.expect}`);
          }),
          answered(o).then((answer) => {
            if (answer !== "ok") wrong.push(`${o.name}: ${answer}`);
          }),
        ];
      }),
    );
    expect(wrong).toEqual([]);
  });
});
