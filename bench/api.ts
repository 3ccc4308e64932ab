// API benchmark: starts `wrangler dev` on a fresh local state, drives it over HTTP with
// autocannon, and prints launch throughput and latency, list throughput with 1,000
// instances in the inventory, and a trivial route as this machine's ceiling, with ratios;
// and what authentication costs, as a share of a launch: the clock read with the admin key
// (checked against the Worker's secret, no D1 read, no rate limit) against the same read
// with an account's key (looked up in D1 with the clock, and rate-limited). Requests go
// with one account's keys, each request with the next key of a pool large enough that no key
// reaches its rate limit (src/api/rate-limit.ts: 200 requests per 10 s a key): a run that
// did would measure 429s.
import type autocannon from "autocannon";
import { emit } from "./_emit";
import { inclusiveShares, startProfile } from "./_profile";
import { run, startDevServer } from "./_wrangler";

const SUITE = "api";
/**
 * BENCH_PROFILE_SECONDS: profile the Worker's isolate for this long from the launch run's start
 * (the launch run then needs to last that long: BENCH_LAUNCHES). Starts the server with its
 * inspector on BENCH_INSPECTOR_PORT (9329 unless set), which costs the runtime work of its own.
 */
const PROFILE_SECONDS = Number(process.env.BENCH_PROFILE_SECONDS ?? 0);
/** Launches in the launch run (1,000: the list then pages through 1,000 instances). */
const LAUNCHES = Number(process.env.BENCH_LAUNCHES ?? 1000);
const INSPECTOR_PORT = Number(process.env.BENCH_INSPECTOR_PORT ?? 9329);
if (PROFILE_SECONDS > 0) process.env.BENCH_INSPECTOR_PORT = String(INSPECTOR_PORT);
/** The functions whose shares a profiled run prints. */
const PROFILED = [
  "authenticate",
  "settleAndRun",
  "save",
  "saveMemory",
  "saveCpu",
  "admit",
  "commit",
  "batch",
  "enterSpan",
  "place",
  "storeWithInterfaces",
  "(garbage collector)",
];
const DURATION_S = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = 16;
/**
 * Connections of the launch run (BENCH_LAUNCH_CONNECTIONS): a launch waits on a host object
 * and on D1 most of its time, and a host object runs the calls that reach it together as one
 * (src/host/call-groups.ts), so more in flight than the other runs' 16 suits it. Measured on a
 * quiet machine (2026-11-26 04:12, timed then by autocannon's once-a-second tick): 199.6 launches/s at 16,
 * 249.4 at 32, 199.6 at 64.
 */
const LAUNCH_CONNECTIONS = Number(process.env.BENCH_LAUNCH_CONNECTIONS ?? 32);
/** Turns of the admin-key and account-key runs of the clock route. */
const AUTH_ROUNDS = 4;
/** Keys in the pool: at 20 requests a second each, 1,920 requests a second in all. */
const KEYS = 96;
let BASE = "";
let ADMIN_KEY = "";

async function post(path: string, body: unknown, key = ADMIN_KEY): Promise<Response> {
  return fetch(`${BASE}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
}

/** An account with one key per connection. */
async function tenantKeys(n: number): Promise<string[]> {
  const res = await post("/v1/accounts", { name: "bench" });
  if (res.status !== 201) throw new Error(`account create: ${res.status}`);
  const { account, key } = (await res.json()) as { account: { accountId: string }; key: { apiKey: string } };
  const keys = [key.apiKey];
  while (keys.length < n) {
    const more = await post(`/v1/accounts/${account.accountId}/keys`, {});
    keys.push(((await more.json()) as { apiKey: string }).apiKey);
  }
  return keys;
}

/** The first answers that were not a success, for the figures that count errors. */
const failures: string[] = [];

/**
 * Sends each request with the next key of the pool, with the request's other headers; keeps
 * the first few answers that failed.
 */
function rotatingKeys(keys: string[], headers: Record<string, string> = {}): autocannon.Request {
  let next = 0;
  return {
    setupRequest: (req) => ({
      ...req,
      headers: { ...req.headers, ...headers, authorization: `Bearer ${keys[next++ % keys.length]}` },
    }),
    onResponse: (status: number, body: string) => {
      if (status >= 400 && failures.length < 3) failures.push(`${status} ${body.slice(0, 300)}`);
    },
  } as autocannon.Request;
}

/** The runs' answers by status code, and their connection errors. */
function statuses(rs: autocannon.Result[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rs) {
    for (const [code, { count }] of Object.entries(r.statusCodeStats ?? {}))
      out[code] = (out[code] ?? 0) + (count ?? 0);
    if (r.errors > 0) out.errors = (out.errors ?? 0) + r.errors;
  }
  return out;
}

/** Failed answers seen so far, emptied: what the errors figures say went wrong. */
function firstFailures(): string[] {
  return failures.splice(0);
}

async function main() {
  const server = await startDevServer();
  BASE = server.base;
  ADMIN_KEY = server.adminKey;
  try {
    // Enough m5 hosts for every launch below: 40 x 48 m5.large.
    for (let i = 0; i < Math.max(40, Math.ceil(LAUNCHES / 48) + 2); i++) {
      const res = await post("/v1/hosts", {
        availabilityZone: i % 2 ? "us-east-1b" : "us-east-1a",
        family: "m5",
      });
      if (res.status !== 201) throw new Error(`host create: ${res.status}`);
    }
    const keys = await tenantKeys(KEYS);
    // Warm the isolate and the host objects once, outside any measurement.
    await run({ url: `${BASE}/healthz`, connections: 4, amount: 500 });
    await run({
      url: `${BASE}/v1/clock`,
      connections: 4,
      amount: 200,
      requests: [rotatingKeys(keys)],
    });

    const trivial = await run({ url: `${BASE}/healthz`, connections: CONNECTIONS, duration: DURATION_S });
    const ceiling = trivial.requests.average;
    emit({
      suite: SUITE,
      name: "trivial_route_throughput",
      value: ceiling,
      unit: "req/s",
      route: "GET /healthz",
    });

    // One route, two kinds of key: the difference is what authenticating an account costs.
    // Short runs taken in turn, so that a change in the machine's load weighs on both alike.
    const clockRuns = { admin: [] as autocannon.Result[], tenant: [] as autocannon.Result[] };
    for (let round = 0; round < AUTH_ROUNDS; round++) {
      const base = { url: `${BASE}/v1/clock`, connections: CONNECTIONS, duration: DURATION_S / 2 };
      clockRuns.admin.push(await run({ ...base, headers: { authorization: `Bearer ${ADMIN_KEY}` } }));
      clockRuns.tenant.push(await run({ ...base, requests: [rotatingKeys(keys)] }));
    }
    const rate = (rs: autocannon.Result[]) =>
      rs.reduce((n, r) => n + r.requests.total, 0) / rs.reduce((t, r) => t + r.duration, 0);
    const adminRate = rate(clockRuns.admin);
    const tenantRate = rate(clockRuns.tenant);
    for (const [name, value, rs] of [
      ["clock_route_admin_throughput", adminRate, clockRuns.admin],
      ["clock_route_tenant_throughput", tenantRate, clockRuns.tenant],
    ] as const) {
      emit({
        suite: SUITE,
        name,
        value,
        unit: "req/s",
        route: "GET /v1/clock",
        rounds: AUTH_ROUNDS,
        ratio_to_trivial: value / ceiling,
        errors: rs.reduce((n, r) => n + r.non2xx + r.errors, 0),
        statuses: statuses(rs),
        failures: firstFailures(),
      });
    }

    const cpuBefore = server.cpuSeconds();
    const profiling = PROFILE_SECONDS > 0 ? await startProfile(INSPECTOR_PORT) : null;
    const profiled = profiling
      ? new Promise<void>((resolve) => setTimeout(resolve, PROFILE_SECONDS * 1000)).then(() =>
          profiling.stop(),
        )
      : null;
    const launch = await run({
      url: `${BASE}/v1/instances`,
      connections: LAUNCH_CONNECTIONS,
      amount: LAUNCHES,
      method: "POST",
      requests: [rotatingKeys(keys, { "content-type": "application/json" })],
      body: JSON.stringify({
        instanceType: "m5.large",
        tags: { bench: "api" },
        placementStrategy: process.env.BENCH_PLACEMENT ?? "binpack",
      }),
    });
    // What each process of the server spent on the launches, and on the queue work they left
    // (a second to let the consumer take the last events): the runtime's one thread bounds it.
    await new Promise((r) => setTimeout(r, 1000));
    for (const [pid, { name, seconds }] of server.cpuSeconds()) {
      const spent = seconds - (cpuBefore.get(pid)?.seconds ?? 0);
      if (spent < 0.05) continue;
      emit({
        suite: SUITE,
        name: "launch_cpu_per_launch",
        value: (1000 * spent) / Math.max(1, launch["2xx"]),
        unit: "ms",
        process: name,
        pid,
      });
    }
    if (profiled) {
      // Where the isolate's time went during the launches (bench/_profile.ts): the functions
      // named in the README's "What bounds a launch".
      for (const f of inclusiveShares(await profiled).filter((f) => PROFILED.includes(f.name))) {
        emit({
          suite: SUITE,
          name: "launch_profile_share",
          value: f.share,
          unit: "ratio",
          function: f.name,
          busy_ms: f.busyMs,
        });
      }
    }
    const launched = launch["2xx"];
    // `run` times a fixed-count run to its last answer (_wrangler.ts).
    const launchRate = launched / (launch.duration || 1);
    emit({
      suite: SUITE,
      name: "launch_throughput",
      value: launchRate,
      unit: "launches/s",
      connections: LAUNCH_CONNECTIONS,
      seconds: launch.duration,
      ratio_to_trivial: launchRate / ceiling,
    });
    emit({ suite: SUITE, name: "launch_latency_p50", value: launch.latency.p50, unit: "ms" });
    emit({ suite: SUITE, name: "launch_latency_p97_5", value: launch.latency.p97_5, unit: "ms" });
    emit({ suite: SUITE, name: "launch_latency_p99", value: launch.latency.p99, unit: "ms" });
    emit({
      suite: SUITE,
      name: "launch_errors",
      value: launch.non2xx + launch.errors,
      unit: "requests",
      statuses: statuses([launch]),
      failures: firstFailures(),
    });
    // Machine time per request at the same concurrency (the server saturates this machine's
    // cores): what an account's key adds to a request, as a share of a launch's.
    const authMs = 1000 / tenantRate - 1000 / adminRate;
    const launchMs = 1000 / launchRate;
    emit({ suite: SUITE, name: "auth_cost_per_request", value: authMs, unit: "ms" });
    emit({
      suite: SUITE,
      name: "auth_share_of_launch",
      value: authMs / launchMs,
      unit: "ratio",
      launch_ms: launchMs,
    });

    const count = (await (
      await fetch(`${BASE}/v1/instances?limit=1000`, { headers: { authorization: `Bearer ${keys[0]}` } })
    ).json()) as { instances: unknown[] };
    const list = await run({
      url: `${BASE}/v1/instances?limit=100`,
      connections: CONNECTIONS,
      duration: DURATION_S,
      requests: [rotatingKeys(keys)],
    });
    emit({
      suite: SUITE,
      name: "list_throughput",
      value: list.requests.average,
      unit: "req/s",
      inventory: count.instances.length,
      page: 100,
      ratio_to_trivial: list.requests.average / ceiling,
      errors: list.non2xx + list.errors,
      statuses: statuses([list]),
      failures: firstFailures(),
    });
    emit({ suite: SUITE, name: "list_latency_p50", value: list.latency.p50, unit: "ms" });
    emit({ suite: SUITE, name: "list_latency_p99", value: list.latency.p99, unit: "ms" });
  } finally {
    server.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
