// `npm start [-- --port N ...]`: on first run writes .dev.vars (git-ignored) with a random
// admin key and a key for a demo tenant, prints both, migrates the local D1 database, then
// serves the API with `wrangler dev`; the Worker seeds the demo fleet and registers the
// demo tenant's key on its first request.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const DEV_VARS = new URL("../.dev.vars", import.meta.url);
/** The demo tenant's account (src/fleet/accounts.ts DEMO_ACCOUNT_ID). */
const DEMO_ACCOUNT = "123456789012";

// Keys as src/fleet/keys.ts makes them: 32 random bytes of secret, base64url.
const secret = () => randomBytes(32).toString("base64url");
const fresh = {
  HYPERFLEET_ADMIN_KEY: () => `hfk_admin_${secret()}`,
  HYPERFLEET_DEMO_KEY: () => `hfk_${randomBytes(9).toString("hex").slice(0, 17)}_${secret()}`,
  // Encrypts webhook signing secrets at rest (src/events/secrets.ts).
  HYPERFLEET_WEBHOOK_KEY: secret,
  // Encrypts the EC2 access keys' secrets at rest (src/fleet/access-keys.ts).
  HYPERFLEET_SECRETS_KEY: secret,
};

const text = existsSync(DEV_VARS) ? readFileSync(DEV_VARS, "utf8") : "";
const vars = Object.fromEntries(
  text
    .split("\n")
    .map((line) => /^\s*([A-Z_][A-Z0-9_]*)\s*=\s*"?([^"]*)"?\s*$/.exec(line))
    .filter((m) => m !== null)
    .map((m) => [m[1], m[2]]),
);
const missing = Object.keys(fresh).filter((name) => !vars[name]);
if (missing.length > 0) {
  const lines = missing.map((name) => {
    vars[name] = fresh[name]();
    return `${name}=${vars[name]}`;
  });
  const head =
    text === ""
      ? "# Local secrets for `wrangler dev`, written by `npm start`; never commit this file.\n"
      : "";
  const sep = text === "" || text.endsWith("\n") ? "" : "\n";
  writeFileSync(DEV_VARS, `${text}${sep}${head}${lines.join("\n")}\n`, { mode: 0o600 });
}

console.log(`
hyperfleet's keys (in .dev.vars${missing.length > 0 ? ", just written" : ""}):
  admin (hosts, the clock, reconcile, accounts):  ${vars.HYPERFLEET_ADMIN_KEY}
  demo tenant (account ${DEMO_ACCOUNT}):             ${vars.HYPERFLEET_DEMO_KEY}
The README's walk-through reads them, in another shell in this directory, with:
  ADMIN="authorization: Bearer $(sed -n 's/^HYPERFLEET_ADMIN_KEY=//p' .dev.vars)"
  DEMO="authorization: Bearer $(sed -n 's/^HYPERFLEET_DEMO_KEY=//p' .dev.vars)"
`);

// Nothing outside this machine is needed; keep wrangler from calling home. SQLite's temporary
// files (a transaction's journal past 64 KiB spills to one: D1's launch batches do, several
// times a second under load) go to memory where the machine has a tmpfs, not to /var/tmp,
// unless SQLITE_TMPDIR or TMPDIR says where they go.
const env = { ...process.env, WRANGLER_SEND_METRICS: "false" };
if (!env.SQLITE_TMPDIR && !env.TMPDIR && existsSync("/dev/shm")) env.SQLITE_TMPDIR = "/dev/shm";
const run = (args) => spawnSync("npx", ["wrangler", ...args], { stdio: "inherit", env });

// A `--persist-to DIR` given for the server holds the database the migrations apply to.
const args = process.argv.slice(2);
const at = args.findIndex((a) => a === "--persist-to" || a.startsWith("--persist-to="));
const persist = at < 0 ? [] : args[at].includes("=") ? [args[at]] : args.slice(at, at + 2);
const migrated = run(["d1", "migrations", "apply", "DB", "--local", ...persist]);
if (migrated.status !== 0) process.exit(migrated.status ?? 1);
// Local development may send webhooks to a receiver on this machine (src/events/outbound.ts).
const dev = run(["dev", "--var", "WEBHOOK_ALLOW_LOOPBACK:true", ...args]);
process.exit(dev.status ?? 1);
