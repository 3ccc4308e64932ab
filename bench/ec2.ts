// EC2 Query API benchmark: RunInstances and DescribeInstances over `POST /` (SigV4-signed,
// form-encoded, answered in XML) beside the JSON API's launch and list in the same run, at 16
// connections, each with an account's key of its own (an access key for the Query API, an
// API key for the JSON one), runs taken in turn so that a change in the machine's load
// weighs on both alike. Each connection replays one signed request: SigV4 signs no nonce,
// so a signature holds for its 15 minutes, as on EC2.
import { SignatureV4 } from "@smithy/signature-v4";
import type autocannon from "autocannon";
import { WebSha256 } from "../test/web-sha256";
import { emit } from "./_emit";
import { run, startDevServer } from "./_wrangler";

const SUITE = "ec2";
const CONNECTIONS = 16;
const ROUNDS = 2;
const LAUNCHES_PER_RUN = Number(process.env.BENCH_LAUNCHES ?? 250);
const DURATION_S = Number(process.env.BENCH_SECONDS ?? 4);

interface Keys {
  apiKeys: string[];
  accessKeys: { accessKeyId: string; secretAccessKey: string }[];
}

async function main() {
  const server = await startDevServer();
  const { base, adminKey } = server;
  const post = async (path: string, body: unknown, key = adminKey) => {
    const res = await fetch(`${base}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<Record<string, unknown>>;
  };
  try {
    // Enough m5 hosts for every launch below: 40 x 48 m5.large.
    for (let i = 0; i < 40; i++) {
      await post("/v1/hosts", { availabilityZone: i % 2 ? "us-east-1b" : "us-east-1a", family: "m5" });
    }
    const made = (await post("/v1/accounts", { name: "bench-ec2" })) as {
      account: { accountId: string };
      key: { apiKey: string };
    };
    const account = made.account.accountId;
    const keys: Keys = { apiKeys: [made.key.apiKey], accessKeys: [] };
    while (keys.apiKeys.length < CONNECTIONS) {
      keys.apiKeys.push(((await post(`/v1/accounts/${account}/keys`, {})) as { apiKey: string }).apiKey);
    }
    while (keys.accessKeys.length < CONNECTIONS) {
      keys.accessKeys.push(
        (await post(`/v1/accounts/${account}/access-keys`, {})) as {
          accessKeyId: string;
          secretAccessKey: string;
        },
      );
    }

    const url = new URL(base);
    /** Each connection's request, signed once with its own access key. */
    async function signedFor(body: string) {
      return Promise.all(
        keys.accessKeys.map(async (k) => {
          const signer = new SignatureV4({
            credentials: k,
            region: "us-east-1",
            service: "ec2",
            sha256: WebSha256,
          });
          const signed = await signer.sign({
            method: "POST",
            protocol: url.protocol,
            hostname: url.hostname,
            port: Number(url.port),
            path: "/",
            query: {},
            headers: { host: url.host, "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
            body,
          });
          return signed.headers as Record<string, string>;
        }),
      );
    }
    const perConnection = (headers: Record<string, string>[]) => {
      let next = 0;
      return (client: autocannon.Client) => client.setHeaders(headers[next++ % headers.length]);
    };
    const jsonKey = (extra: Record<string, string> = {}) =>
      perConnection(keys.apiKeys.map((k) => ({ ...extra, authorization: `Bearer ${k}` })));

    const runBody = new URLSearchParams({
      Action: "RunInstances",
      Version: "2016-11-15",
      InstanceType: "m5.large",
      MinCount: "1",
      MaxCount: "1",
      "TagSpecification.1.ResourceType": "instance",
      "TagSpecification.1.Tag.1.Key": "bench",
      "TagSpecification.1.Tag.1.Value": "ec2",
    }).toString();
    const describeBody = "Action=DescribeInstances&Version=2016-11-15&MaxResults=100";
    const launchJson = JSON.stringify({ instanceType: "m5.large", tags: { bench: "json" } });

    // Warm the isolate, the host objects and both paths once, outside any measurement.
    await run({ url: `${base}/healthz`, connections: 4, amount: 300 });
    await run({
      url: `${base}/`,
      method: "POST",
      connections: 4,
      amount: 40,
      body: describeBody,
      setupClient: perConnection(await signedFor(describeBody)),
    });

    const launches = { query: [] as autocannon.Result[], json: [] as autocannon.Result[] };
    for (let round = 0; round < ROUNDS; round++) {
      launches.query.push(
        await run({
          url: `${base}/`,
          method: "POST",
          connections: CONNECTIONS,
          amount: LAUNCHES_PER_RUN,
          body: runBody,
          setupClient: perConnection(await signedFor(runBody)),
        }),
      );
      launches.json.push(
        await run({
          url: `${base}/v1/instances`,
          method: "POST",
          connections: CONNECTIONS,
          amount: LAUNCHES_PER_RUN,
          body: launchJson,
          setupClient: jsonKey({ "content-type": "application/json" }),
        }),
      );
    }
    const lists = { query: [] as autocannon.Result[], json: [] as autocannon.Result[] };
    for (let round = 0; round < ROUNDS; round++) {
      lists.query.push(
        await run({
          url: `${base}/`,
          method: "POST",
          connections: CONNECTIONS,
          duration: DURATION_S,
          body: describeBody,
          setupClient: perConnection(await signedFor(describeBody)),
        }),
      );
      lists.json.push(
        await run({
          url: `${base}/v1/instances?limit=100`,
          connections: CONNECTIONS,
          duration: DURATION_S,
          setupClient: jsonKey(),
        }),
      );
    }

    const rate = (rs: autocannon.Result[]) =>
      rs.reduce((n, r) => n + r["2xx"], 0) / rs.reduce((t, r) => t + r.duration, 0);
    const errors = (rs: autocannon.Result[]) => rs.reduce((n, r) => n + r.non2xx + r.errors, 0);
    const p50 = (rs: autocannon.Result[]) => rs.reduce((n, r) => n + r.latency.p50, 0) / rs.length;
    const inventory = (
      (await (
        await fetch(`${base}/v1/instances?limit=1000`, {
          headers: { authorization: `Bearer ${keys.apiKeys[0]}` },
        })
      ).json()) as { instances: unknown[] }
    ).instances.length;

    const figures = [
      ["run_instances_throughput", "launch_throughput_json", launches, "launches/s"],
      ["describe_instances_throughput", "list_throughput_json", lists, "req/s"],
    ] as const;
    for (const [queryName, jsonName, runs, unit] of figures) {
      const q = rate(runs.query);
      const j = rate(runs.json);
      emit({
        suite: SUITE,
        name: queryName,
        value: q,
        unit,
        connections: CONNECTIONS,
        rounds: ROUNDS,
        ratio_to_json: q / j,
        latency_p50_ms: p50(runs.query),
        errors: errors(runs.query),
        ...(unit === "req/s" ? { page: 100, inventory } : {}),
      });
      emit({
        suite: SUITE,
        name: jsonName,
        value: j,
        unit,
        connections: CONNECTIONS,
        rounds: ROUNDS,
        latency_p50_ms: p50(runs.json),
        errors: errors(runs.json),
        ...(unit === "req/s" ? { page: 100, inventory } : {}),
      });
    }
  } finally {
    server.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
