// A Worker for a benchmark: `wrangler dev` on a fresh local state, the demo off, a manual
// clock and secrets of its own (in place of any .dev.vars the working copy has).
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";

export interface DevServer {
  base: string;
  adminKey: string;
  stop(): void;
}

export async function startDevServer(): Promise<DevServer> {
  const port = 8900 + Math.floor(Math.random() * 90);
  const base = `http://127.0.0.1:${port}`;
  const adminKey = `hfk_admin_${randomBytes(32).toString("base64url")}`;
  const persist = mkdtempSync(join(tmpdir(), "hyperfleet-bench-"));
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false" };
  const secrets = join(persist, "bench.env");
  writeFileSync(
    secrets,
    `HYPERFLEET_ADMIN_KEY=${adminKey}\nHYPERFLEET_DEMO_KEY=none\nHYPERFLEET_SECRETS_KEY=${randomBytes(32).toString("base64url")}\nHYPERFLEET_WEBHOOK_KEY=${randomBytes(32).toString("base64url")}\n`,
  );
  const migrate = spawnSync(
    "npx",
    ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", persist],
    {
      env,
      stdio: "ignore",
    },
  );
  if (migrate.status !== 0) throw new Error("migrations failed");
  const server: ChildProcess = spawn(
    "npx",
    [
      "wrangler",
      "dev",
      "--port",
      String(port),
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
      "--env-file",
      secrets,
    ],
    { env, stdio: "ignore", detached: true },
  );
  const stop = () => {
    if (server.pid) {
      try {
        process.kill(-server.pid, "SIGTERM");
      } catch {}
    }
    rmSync(persist, { recursive: true, force: true });
  };
  for (let i = 0; i < 120; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return { base, adminKey, stop };
    } catch {}
    await new Promise((r) => setTimeout(r, 500));
  }
  stop();
  throw new Error("server did not start");
}

export function run(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => autocannon(opts, (err, res) => (err ? reject(err) : resolve(res))));
}
