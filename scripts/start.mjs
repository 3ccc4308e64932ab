// `npm start [-- --port N ...]`: migrates the local D1 database, then serves the API with
// `wrangler dev`; the Worker seeds the demo fleet on its first request.
import { spawnSync } from "node:child_process";

// Nothing outside this machine is needed; keep wrangler from calling home.
const env = { ...process.env, WRANGLER_SEND_METRICS: "false" };
const run = (args) => spawnSync("npx", ["wrangler", ...args], { stdio: "inherit", env });

const migrated = run(["d1", "migrations", "apply", "DB", "--local"]);
if (migrated.status !== 0) process.exit(migrated.status ?? 1);
const dev = run(["dev", ...process.argv.slice(2)]);
process.exit(dev.status ?? 1);
