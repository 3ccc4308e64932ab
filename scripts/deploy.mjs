// `npm run deploy`: puts hyperfleet on Cloudflare's network. Creates the D1 database and
// the queues on first use (writing the new database id into wrangler.toml), applies the
// migrations remotely, then deploys. Needs `wrangler login` (or CLOUDFLARE_API_TOKEN).
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";

const PLACEHOLDER = "00000000-0000-4000-8000-000000000000";
const CONFIG = new URL("../wrangler.toml", import.meta.url);

function wrangler(args, { capture = false, allowFail = false } = {}) {
  const res = spawnSync("npx", ["wrangler", ...args], {
    stdio: capture ? "pipe" : "inherit",
    encoding: "utf8",
  });
  if (res.status !== 0 && !allowFail) {
    if (capture) process.stderr.write(`${res.stdout ?? ""}${res.stderr ?? ""}`);
    console.error(`wrangler ${args.join(" ")} failed`);
    process.exit(res.status ?? 1);
  }
  return `${res.stdout ?? ""}${res.stderr ?? ""}`;
}

let config = readFileSync(CONFIG, "utf8");
if (config.includes(PLACEHOLDER)) {
  const out = wrangler(["d1", "create", "hyperfleet"], { capture: true });
  const id = out.match(/database_id"?\s*[:=]\s*"([0-9a-f-]{36})"/)?.[1];
  if (!id) {
    console.error(`could not read the new database id from:\n${out}`);
    process.exit(1);
  }
  config = config.replace(PLACEHOLDER, id);
  writeFileSync(CONFIG, config);
  console.log(`D1 database hyperfleet created (${id}); wrangler.toml updated`);
}
for (const queue of [
  "hyperfleet-events",
  "hyperfleet-events-dlq",
  "hyperfleet-metrics",
  "hyperfleet-metrics-dlq",
  "hyperfleet-webhooks",
  "hyperfleet-webhooks-dlq",
]) {
  // Creating a queue that exists fails harmlessly.
  wrangler(["queues", "create", queue], { allowFail: true });
}
wrangler(["d1", "migrations", "apply", "DB", "--remote"]);
wrangler(["deploy"]);
