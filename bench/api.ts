// API benchmark: starts `wrangler dev` on a fresh local state, drives it over HTTP with
// autocannon, and prints launch throughput and latency, list throughput with 1,000
// instances in the inventory, and a trivial route as this machine's ceiling, with ratios.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import { emit } from "./_emit";

const SUITE = "api";
const PORT = 8900 + Math.floor(Math.random() * 90);
const BASE = `http://127.0.0.1:${PORT}`;
const DURATION_S = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = 16;

function startServer(persist: string): ChildProcess {
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false" };
  const migrate = spawnSync(
    "npx",
    ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", persist],
    {
      env,
      stdio: "ignore",
    },
  );
  if (migrate.status !== 0) throw new Error("migrations failed");
  return spawn(
    "npx",
    [
      "wrangler",
      "dev",
      "--port",
      String(PORT),
      "--ip",
      "127.0.0.1",
      "--persist-to",
      persist,
      "--log-level",
      "error",
      "--var",
      "DEMO_FLEET:false",
      "--var",
      "SIM_CLOCK:manual",
    ],
    { env, stdio: "ignore", detached: true },
  );
}

async function waitUp(): Promise<void> {
  for (let i = 0; i < 120; i++) {
    try {
      if ((await fetch(`${BASE}/healthz`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("server did not start");
}

async function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${BASE}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

function run(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => autocannon(opts, (err, res) => (err ? reject(err) : resolve(res))));
}

async function main() {
  const persist = mkdtempSync(join(tmpdir(), "hyperfleet-bench-"));
  const server = startServer(persist);
  try {
    await waitUp();
    // Enough m5 hosts for every launch below: 40 x 48 m5.large.
    for (let i = 0; i < 40; i++) {
      const res = await post("/v1/hosts", {
        availabilityZone: i % 2 ? "us-east-1b" : "us-east-1a",
        family: "m5",
      });
      if (res.status !== 201) throw new Error(`host create: ${res.status}`);
    }
    // Warm the isolate and the host objects once, outside any measurement.
    await run({ url: `${BASE}/healthz`, connections: 4, amount: 500 });

    const trivial = await run({ url: `${BASE}/healthz`, connections: CONNECTIONS, duration: DURATION_S });
    const ceiling = trivial.requests.average;
    emit({
      suite: SUITE,
      name: "trivial_route_throughput",
      value: ceiling,
      unit: "req/s",
      route: "GET /healthz",
    });

    const launches = 1000;
    const launch = await run({
      url: `${BASE}/v1/instances`,
      connections: CONNECTIONS,
      amount: launches,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        instanceType: "m5.large",
        tags: { bench: "api" },
        placementStrategy: process.env.BENCH_PLACEMENT ?? "binpack",
      }),
    });
    const launched = launch["2xx"];
    const launchRate = launched / (launch.duration || 1);
    emit({
      suite: SUITE,
      name: "launch_throughput",
      value: launchRate,
      unit: "launches/s",
      ratio_to_trivial: launchRate / ceiling,
    });
    emit({ suite: SUITE, name: "launch_latency_p50", value: launch.latency.p50, unit: "ms" });
    emit({ suite: SUITE, name: "launch_latency_p97_5", value: launch.latency.p97_5, unit: "ms" });
    emit({ suite: SUITE, name: "launch_latency_p99", value: launch.latency.p99, unit: "ms" });
    emit({ suite: SUITE, name: "launch_errors", value: launch.non2xx + launch.errors, unit: "requests" });

    const count = (await (await fetch(`${BASE}/v1/instances?limit=1000`)).json()) as { instances: unknown[] };
    const list = await run({
      url: `${BASE}/v1/instances?limit=100`,
      connections: CONNECTIONS,
      duration: DURATION_S,
    });
    emit({
      suite: SUITE,
      name: "list_throughput",
      value: list.requests.average,
      unit: "req/s",
      inventory: count.instances.length,
      page: 100,
      ratio_to_trivial: list.requests.average / ceiling,
    });
    emit({ suite: SUITE, name: "list_latency_p50", value: list.latency.p50, unit: "ms" });
    emit({ suite: SUITE, name: "list_latency_p99", value: list.latency.p99, unit: "ms" });
  } finally {
    if (server.pid) {
      try {
        process.kill(-server.pid, "SIGTERM");
      } catch {}
    }
    rmSync(persist, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
