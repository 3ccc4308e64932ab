import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// A fresh admin key each run; tests read it from the Worker's env and mint tenants' keys with it.
const TEST_ADMIN_KEY = `hfk_admin_${randomBytes(32).toString("base64url")}`;
// And the key that encrypts the EC2 access keys' secrets at rest.
const TEST_SECRETS_KEY = randomBytes(32).toString("base64url");
// wrangler.toml requires both secrets and reads them from the environment when no .dev.vars
// has them; the bindings below set them for the Worker under test all the same.
const TEST_WEBHOOK_KEY = randomBytes(32).toString("base64url");
Object.assign(process.env, {
  // SQLite's temporary files in memory where there is a tmpfs, as `npm start` has them (scripts/start.mjs).
  ...(!process.env.SQLITE_TMPDIR && !process.env.TMPDIR && existsSync("/dev/shm")
    ? { SQLITE_TMPDIR: "/dev/shm" }
    : {}),
  HYPERFLEET_ADMIN_KEY: TEST_ADMIN_KEY,
  HYPERFLEET_DEMO_KEY: "none",
  HYPERFLEET_WEBHOOK_KEY: TEST_WEBHOOK_KEY,
  HYPERFLEET_SECRETS_KEY: TEST_SECRETS_KEY,
});

// Four projects: the pure models and the API's description in plain Node, the Worker inside
// workerd, and the Worker behind wrangler's dev server over real HTTP on loopback
// (test/http/server.ts starts it).
export default defineConfig({
  test: {
    // The JSON report is what .ci/run counts; the default reporter is for people.
    reporters: ["default", ["json", { outputFile: ".vitest-report.json" }]],
    projects: [
      {
        test: { name: "sim", include: ["test/sim/**/*.test.ts"], environment: "node" },
      },
      {
        test: { name: "api", include: ["test/api/**/*.test.ts"], environment: "node" },
      },
      {
        plugins: [
          cloudflareTest(async () => ({
            wrangler: { configPath: "./wrangler.toml" },
            remoteBindings: false,
            miniflare: {
              bindings: {
                SIM_CLOCK: "manual",
                DEMO_FLEET: "false",
                HYPERFLEET_ADMIN_KEY: TEST_ADMIN_KEY,
                HYPERFLEET_DEMO_KEY: "none",
                HYPERFLEET_WEBHOOK_KEY: TEST_WEBHOOK_KEY,
                HYPERFLEET_SECRETS_KEY: TEST_SECRETS_KEY,
                TEST_MIGRATIONS: await readD1Migrations("./migrations"),
              },
            },
          })),
        ],
        test: {
          name: "workers",
          include: ["test/integration/**/*.test.ts"],
          setupFiles: ["./test/integration/setup.ts"],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: "http",
          include: ["test/http/**/*.test.ts"],
          environment: "node",
          globalSetup: ["./test/http/server.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
