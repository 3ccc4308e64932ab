// Global setup of the `http` tests: the Worker behind wrangler's own dev server (the HTTP
// server `npm start` runs), on 127.0.0.1, a free port and a fresh local state, with an
// admin key of its own; stopped after.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { unstable_startWorker } from "wrangler";

declare module "vitest" {
  export interface ProvidedContext {
    /** The dev server's origin, `http://127.0.0.1:<port>`. */
    httpBase: string;
    /** Its admin key; tests mint tenants' keys with it. */
    adminKey: string;
  }
}

// Nothing here may leave the machine: no metrics, no download of the `Request.cf` object.
const offline = {
  WRANGLER_SEND_METRICS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_HIDE_BANNER: "true",
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

export default async function setup(project: TestProject) {
  Object.assign(process.env, offline);
  const persist = mkdtempSync(join(tmpdir(), "hyperfleet-http-"));
  const wrangler = createRequire(import.meta.url).resolve("wrangler/bin/wrangler.js");
  const migrated = spawnSync(
    process.execPath,
    [wrangler, "d1", "migrations", "apply", "DB", "--local", "--persist-to", persist],
    { env: process.env, encoding: "utf8" },
  );
  if (migrated.status !== 0) throw new Error(`D1 migrations failed:\n${migrated.stdout}\n${migrated.stderr}`);

  const adminKey = `hfk_admin_${randomBytes(32).toString("base64url")}`;
  const worker = await unstable_startWorker({
    config: "wrangler.toml",
    bindings: {
      SIM_CLOCK: { type: "plain_text", value: "manual" },
      DEMO_FLEET: { type: "plain_text", value: "false" },
      HYPERFLEET_ADMIN_KEY: { type: "secret_text", value: adminKey },
      HYPERFLEET_DEMO_KEY: { type: "secret_text", value: "none" },
      HYPERFLEET_WEBHOOK_KEY: { type: "secret_text", value: randomBytes(32).toString("base64url") },
    },
    dev: {
      server: { hostname: "127.0.0.1", port: await freePort() },
      inspector: false,
      persist,
      remote: false,
      watch: false,
      logLevel: "error",
    },
  });
  await worker.ready;
  project.provide("httpBase", (await worker.url).origin);
  project.provide("adminKey", adminKey);

  return async () => {
    await worker.dispose();
    rmSync(persist, { recursive: true, force: true });
  };
}
