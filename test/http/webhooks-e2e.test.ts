// End to end, as a user runs it: `npm start` serves the fleet, a receiver listens on
// loopback, a tenant subscribes it, launches, stops and terminates an instance, and the
// receiver gets every state change, signed, in simulated-time order, each once.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const a = probe.address();
      const port = typeof a === "object" && a ? a.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

async function until<T>(what: string, fn: () => Promise<T | null>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await fn();
      if (v !== null) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (${String(last)})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface Hook {
  headers: Record<string, string>;
  body: string;
}

let server: ChildProcess;
let output = "";
let base = "";
let persist = "";
let receiver: Server;
let receiverUrl = "";
const hooks: Hook[] = [];

beforeAll(async () => {
  persist = mkdtempSync(join(tmpdir(), "hyperfleet-e2e-"));
  const port = await freePort();
  // A process group of its own, so that the test can stop wrangler with npm.
  server = spawn(
    "npm",
    [
      "start",
      "--",
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--inspector-port",
      String(await freePort()),
      "--persist-to",
      persist,
    ],
    {
      cwd: ROOT,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", CI: "1" },
    },
  );
  server.stdout?.on("data", (d) => {
    output += String(d);
  });
  server.stderr?.on("data", (d) => {
    output += String(d);
  });
  base = `http://127.0.0.1:${port}`;
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      hooks.push({ headers: req.headers as Record<string, string>, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", () => r()));
  const a = receiver.address();
  receiverUrl = `http://127.0.0.1:${typeof a === "object" && a ? a.port : 0}/hook`;
  await until(
    "npm start to serve",
    async () => ((await fetch(`${base}/healthz`)).ok ? true : null),
    120_000,
  ).catch((err) => {
    throw new Error(`${err.message}\n${output.slice(-4000)}`);
  });
}, 180_000);

afterAll(async () => {
  if (server?.pid) {
    try {
      process.kill(-server.pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
  rmSync(persist, { recursive: true, force: true });
});

describe("npm start with a loopback receiver", () => {
  it("delivers every state change of an instance's life, signed, in simulated-time order, each once", async () => {
    const vars = readFileSync(join(ROOT, ".dev.vars"), "utf8");
    const admin = { authorization: `Bearer ${/^HYPERFLEET_ADMIN_KEY=(.*)$/m.exec(vars)?.[1]}` };
    const json = { "content-type": "application/json" };
    const api = async <T>(method: string, path: string, headers: Record<string, string>, body?: unknown) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { ...headers, ...(body === undefined ? {} : json) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
    };

    const account = await api<{ key: { apiKey: string } }>("POST", "/v1/accounts", admin, { name: "e2e" });
    expect(account.status).toBe(201);
    const tenant = { authorization: `Bearer ${account.body.key.apiKey}` };
    const zone = `zz-e${Date.now()
      .toString(36)
      .replace(/[0-9]/g, (d) => "abcdefghij"[Number(d)])}-1a`;
    expect((await api("POST", "/v1/hosts", admin, { availabilityZone: zone, family: "m5" })).status).toBe(
      201,
    );
    const sub = await api<{ secret: string }>("POST", "/v1/subscriptions", tenant, {
      url: receiverUrl,
      eventTypes: ["instance.state-changed"],
    });
    expect(sub.status).toBe(201);

    const launched = await api<{ instances: { instanceId: string }[] }>("POST", "/v1/instances", tenant, {
      instanceType: "m5.large",
      availabilityZone: zone,
    });
    expect(launched.status).toBe(201);
    const id = launched.body.instances[0].instanceId;
    const reach = (state: string) =>
      until(
        `${id} to be ${state}`,
        async () =>
          (await api<{ state: { name: string } }>("GET", `/v1/instances/${id}`, tenant)).body.state.name ===
          state
            ? true
            : null,
        60_000,
      );
    await reach("running");
    expect((await api("POST", `/v1/instances/${id}/stop`, tenant)).status).toBe(200);
    await reach("stopped");
    expect((await api("DELETE", `/v1/instances/${id}`, tenant)).status).toBe(200);
    await reach("terminated");

    // The whole life: launch (pending), running, stopping, stopped, terminated. The log holds
    // each once the events queue has brought it (its order is the order they were logged in).
    const LIFE = 5;
    const logged = await until(
      "the log to hold the instance's whole life",
      async () => {
        const res = await api<{ events: { id: string; state: string }[] }>(
          "GET",
          `/v1/events?instanceId=${id}&type=instance.state-changed`,
          tenant,
        );
        return res.body.events.length >= LIFE ? res.body.events : null;
      },
      60_000,
    );
    const mine = () => hooks.filter((h) => JSON.parse(h.body).resource.id === id);
    await until(
      "every state change to reach the receiver",
      async () => (mine().length >= LIFE ? true : null),
      60_000,
    );

    const wh = new Webhook(sub.body.secret);
    const got = mine().map(
      (h) => wh.verify(h.body, h.headers) as { id: string; time: string; data: { state: string } },
    );
    const webhookIds = mine().map((h) => h.headers["webhook-id"]);
    // Each once, by event id and by webhook-id.
    expect(new Set(got.map((e) => e.id)).size).toBe(got.length);
    expect(new Set(webhookIds).size).toBe(webhookIds.length);
    expect(got.map((e) => e.id).sort()).toEqual(logged.map((e) => e.id).sort());
    // In simulated-time order, the whole life.
    const times = got.map((e) => Date.parse(e.time));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(got.map((e) => e.data.state)).toEqual(["pending", "running", "stopping", "stopped", "terminated"]);
  }, 240_000);
});
