// wrangler's dev server for the HTTP benchmarks (scripts/dev-server.mjs): a fresh local state in a temporary directory, the
// bench's own secrets, migrations applied, the demo fleet off and the clock manual (nothing
// settles while the bench runs); and the resident memory of its workerd processes.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";

const devServerScript = fileURLToPath(new URL("../scripts/dev-server.mjs", import.meta.url));

export interface DevServer {
  base: string;
  /**
   * The runtime's own socket for the Worker, without wrangler's dev proxy in front (null if
   * it was not found). The proxy answers any network error of a request that is not a GET with
   * 503 "Your worker restarted mid-request" (it compares the Worker's URL with the request's
   * path in it against one without, so they always differ); talking to the runtime directly,
   * a bench sees what failed and no request is answered twice.
   */
  direct: string | null;
  /** Looks for the runtime's socket again: a runtime that wrangler restarted listens elsewhere. */
  findDirect(): Promise<string | null>;
  adminKey: string;
  /** The resident memory of the server's workerd processes together, in MiB. */
  workerdRssMiB(): number;
  /**
   * CPU seconds (user and system) each process of the server has used so far, by pid: the
   * workerd that runs the Worker, the workerd of wrangler's proxy, and wrangler's Node process.
   */
  cpuSeconds(): Map<number, { name: string; seconds: number }>;
  stop(): void;
}

function children(pid: number): number[] {
  const out = spawnSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" }).stdout;
  return out
    .split("\n")
    .map((s) => Number(s.trim()))
    .filter((n) => n > 0);
}

/** `pid` and every process under it. */
function tree(pid: number): number[] {
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...children(all[i]));
  return all;
}

function rssMiB(pid: number): { name: string; mib: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const name = /^Name:\s+(\S+)/m.exec(status)?.[1] ?? "";
    const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
    return { name, mib: kb / 1024 };
  } catch {
    return null;
  }
}

/** CPU seconds `pid` has used (utime + stime of /proc/<pid>/stat, in clock ticks of 1/100 s). */
function cpuOf(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/**
 * Where the local state goes: BENCH_STATE_DIR, else memory (/dev/shm) where the machine has
 * it. The state is thrown away after the run; on disk, every host object's new SQLite file and
 * every D1 commit waits on the disk, which on a shared VM measured 8 times slower per host
 * than the same run in memory, and measures the disk rather than hyperfleet.
 */
export function stateDir(): string {
  if (process.env.BENCH_STATE_DIR) return process.env.BENCH_STATE_DIR;
  return existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
}

/** A port nobody on this machine listens on now (other servers run beside the bench). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

export async function startDevServer(vars: Record<string, string> = {}): Promise<DevServer> {
  const port = await freePort();
  const persist = mkdtempSync(join(stateDir(), "hyperfleet-bench-"));
  const adminKey = `hfk_admin_${randomBytes(32).toString("base64url")}`;
  const env: NodeJS.ProcessEnv = { ...process.env, WRANGLER_SEND_METRICS: "false" };
  // SQLite's temporary files in memory, as `npm start` has them (scripts/start.mjs).
  if (!env.SQLITE_TMPDIR && !env.TMPDIR && existsSync("/dev/shm")) env.SQLITE_TMPDIR = "/dev/shm";
  // The bench's own secrets, in place of any .dev.vars the working copy has.
  const secrets = join(persist, "bench.env");
  writeFileSync(
    secrets,
    `HYPERFLEET_ADMIN_KEY=${adminKey}\nHYPERFLEET_DEMO_KEY=none\nHYPERFLEET_WEBHOOK_KEY=${randomBytes(32).toString("base64url")}\nHYPERFLEET_SECRETS_KEY=${randomBytes(32).toString("base64url")}\n`,
  );
  const migrate = spawnSync(
    "npx",
    ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", persist],
    { env, stdio: "ignore" },
  );
  if (migrate.status !== 0) throw new Error("migrations failed");
  // wrangler's dev server, started through its API with the DevTools inspector off
  // (scripts/dev-server.mjs says why); BENCH_WRANGLER_CLI=1 runs `wrangler dev` itself, with it on.
  const cli = process.env.BENCH_WRANGLER_CLI === "1";
  const common = [
    "--port",
    String(port),
    "--ip",
    "127.0.0.1",
    "--persist-to",
    persist,
    "--log-level",
    process.env.BENCH_VERBOSE ? "log" : "error",
    "--var",
    "DEMO_FLEET:false",
    "--var",
    "SIM_CLOCK:manual",
    "--env-file",
    secrets,
    ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
  ];
  // BENCH_INSPECTOR_PORT: where a profiler can attach to the Worker's isolate.
  if (process.env.BENCH_INSPECTOR_PORT) common.push("--inspector-port", process.env.BENCH_INSPECTOR_PORT);
  const [command, args] = cli
    ? ["npx", ["wrangler", "dev", ...common]]
    : [process.execPath, [devServerScript, ...common]];
  const server: ChildProcess = spawn(
    command,
    args,
    // BENCH_VERBOSE=1 shows the server's own output (errors, a restart), on stderr.
    {
      env,
      stdio: ["ignore", process.env.BENCH_VERBOSE ? 2 : "ignore", process.env.BENCH_VERBOSE ? 2 : "ignore"],
      detached: true,
    },
  );
  const base = `http://127.0.0.1:${port}`;
  const stop = () => {
    if (server.pid) {
      try {
        process.kill(-server.pid, "SIGTERM");
      } catch {}
    }
    rmSync(persist, { recursive: true, force: true });
  };
  try {
    await waitUp(base, adminKey);
  } catch (err) {
    stop();
    throw err;
  }
  return {
    base,
    direct: await directBase(server.pid, port, adminKey),
    findDirect: () => directBase(server.pid, port, adminKey),
    adminKey,
    cpuSeconds: () => {
      const out = new Map<number, { name: string; seconds: number }>();
      if (!server.pid) return out;
      for (const pid of tree(server.pid)) {
        const name = rssMiB(pid)?.name;
        const seconds = cpuOf(pid);
        if (name && seconds !== null) out.set(pid, { name, seconds });
      }
      return out;
    },
    workerdRssMiB: () =>
      server.pid
        ? tree(server.pid)
            .map(rssMiB)
            .filter((p) => p?.name === "workerd")
            .reduce((n, p) => n + (p?.mib ?? 0), 0)
        : 0,
    stop,
  };
}

/** The Worker's socket in the runtime: a workerd port other than the proxy's that serves this Worker. */
async function directBase(
  pid: number | undefined,
  proxyPort: number,
  adminKey: string,
): Promise<string | null> {
  if (!pid) return null;
  const workerd = new Set(
    tree(pid)
      .map((p) => ({ p, name: rssMiB(p)?.name }))
      .filter((x) => x.name === "workerd")
      .map((x) => x.p),
  );
  const listening = spawnSync("ss", ["-ltnpH"], { encoding: "utf8" }).stdout ?? "";
  const ports = listening
    .split("\n")
    .filter((l) => [...l.matchAll(/pid=(\d+),/g)].some((m) => workerd.has(Number(m[1]))))
    .map((l) => Number(/127\.0\.0\.1:(\d+)/.exec(l)?.[1]))
    .filter((p) => p > 0 && p !== proxyPort);
  for (const port of ports) {
    const base = `http://127.0.0.1:${port}`;
    try {
      const res = await fetch(`${base}/v1/clock`, {
        headers: { authorization: `Bearer ${adminKey}` },
        signal: AbortSignal.timeout(2000),
      });
      if (res.ok && ((await res.json()) as { mode?: string }).mode) return base;
    } catch {}
  }
  return null;
}

/** Up, and ours: the clock answers this server's admin key (another server would refuse it). */
async function waitUp(base: string, adminKey: string): Promise<void> {
  for (let i = 0; i < 120; i++) {
    try {
      const res = await fetch(`${base}/v1/clock`, { headers: { authorization: `Bearer ${adminKey}` } });
      if (res.ok) return;
      if (res.status === 401) throw new Error(`another server answers on ${base}`);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith("another server")) throw err;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("server did not start");
}

/**
 * One autocannon run, as a promise. A run of a fixed number of requests (`amount`) has its
 * `duration` replaced by the time from its start to its last answer: autocannon notices that
 * such a run is done only at its next once-a-second tick, so its own duration is whole seconds
 * plus a little, and a rate divided by it falls on 1,000 / 4.01, 1,000 / 5.01, ... whatever the
 * server did.
 */
export function run(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let last = started;
    const instance = autocannon(opts, (err, res) => {
      if (err) return reject(err);
      if (opts.amount !== undefined && last > started) res.duration = (last - started) / 1000;
      resolve(res);
    });
    instance.on("response", () => {
      last = performance.now();
    });
  });
}
