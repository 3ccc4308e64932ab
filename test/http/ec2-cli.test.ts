// End to end as a user does it: `npm start` (the demo fleet on a clock at 10x), an access
// key made with the demo tenant's key, and the aws CLI pointed at the endpoint, unmodified:
// launch, describe with filters and pages, stop, start, reboot, terminate, client tokens,
// capacity, tags, a volume attached and snapshotted, an action the endpoint does not offer and
// a bad signature.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = new URL("../..", import.meta.url).pathname;

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

let server: ChildProcess | null = null;
let state = "";
let endpoint = "";
let log = "";
let env: Record<string, string | undefined> = {};

/** The aws CLI with the test's key and no config of the user's; its exit status and output. */
function aws(args: string[], extra: Record<string, string | undefined> = {}) {
  const r = spawnSync("aws", ["--endpoint-url", endpoint, "--output", "json", "ec2", ...args], {
    env: { ...env, ...extra } as NodeJS.ProcessEnv,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: r.status, out: r.stdout, err: r.stderr, json: () => JSON.parse(r.stdout || "null") };
}

function ok(args: string[]) {
  const r = aws(args);
  if (r.status !== 0) throw new Error(`aws ec2 ${args.join(" ")}: ${r.status}\n${r.err}`);
  return r.json();
}

/** Polls `describe-instances` for `ids` until every one is in `want` (the clock runs at 10x). */
async function waitFor(ids: string[], want: string, timeoutMs = 30_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = ok(["describe-instances", "--instance-ids", ...ids]);
    const states = res.Reservations.flatMap(
      (r: { Instances: { State: { Name: string } }[] }) => r.Instances,
    ).map((i: { State: { Name: string } }) => i.State.Name);
    if (states.length === ids.length && states.every((s: string) => s === want)) return;
    if (Date.now() > until) throw new Error(`still ${states.join(", ")}, not ${want}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

beforeAll(async () => {
  const which = spawnSync("aws", ["--version"], { encoding: "utf8" });
  if (which.status !== 0) throw new Error("the aws CLI is not installed (Debian: apt-get install -y awscli)");
  state = mkdtempSync(join(tmpdir(), "hyperfleet-cli-"));
  const [port, inspector] = [await freePort(), await freePort()];
  endpoint = `http://127.0.0.1:${port}`;
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
      String(inspector),
      "--persist-to",
      state,
      "--show-interactive-dev-session=false",
    ],
    {
      cwd: ROOT,
      detached: true,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
    },
  );
  server.stdout?.on("data", (d) => {
    log += d;
  });
  server.stderr?.on("data", (d) => {
    log += d;
  });
  const until = Date.now() + 90_000;
  for (;;) {
    try {
      if ((await fetch(`${endpoint}/healthz`)).ok) break;
    } catch {}
    if (Date.now() > until || server.exitCode !== null) throw new Error(`npm start did not come up:\n${log}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  // The demo tenant's key, from the .dev.vars `npm start` wrote (or found).
  const demo = /^HYPERFLEET_DEMO_KEY=(.+)$/m.exec(readFileSync(join(ROOT, ".dev.vars"), "utf8"))?.[1];
  const made = await fetch(`${endpoint}/v1/accounts/123456789012/access-keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${demo}` },
  });
  if (made.status !== 201) throw new Error(`access key: ${made.status} ${await made.text()}`);
  const key = (await made.json()) as { accessKeyId: string; secretAccessKey: string };
  // The user's own configuration stays out of it: empty files, the key in the environment.
  const config = join(state, "aws-config");
  writeFileSync(config, "");
  env = {
    PATH: process.env.PATH,
    HOME: state,
    AWS_CONFIG_FILE: config,
    AWS_SHARED_CREDENTIALS_FILE: config,
    AWS_ACCESS_KEY_ID: key.accessKeyId,
    AWS_SECRET_ACCESS_KEY: key.secretAccessKey,
    AWS_DEFAULT_REGION: "us-east-1",
    AWS_PAGER: "",
    // A capacity error is a server error, which the CLI retries; once is enough here.
    AWS_MAX_ATTEMPTS: "1",
  };
}, 120_000);

afterAll(() => {
  if (server?.pid) {
    try {
      process.kill(-server.pid, "SIGTERM");
    } catch {}
  }
  if (state) rmSync(state, { recursive: true, force: true });
});

describe("the aws CLI against npm start", () => {
  it("launches, lists with filters and pages, stops, starts, reboots and terminates", async () => {
    const run = ok([
      "run-instances",
      "--instance-type",
      "m5.large",
      "--count",
      "7",
      "--tag-specifications",
      "ResourceType=instance,Tags=[{Key=team,Value=cli}]",
    ]);
    const ids: string[] = run.Instances.map((i: { InstanceId: string }) => i.InstanceId).sort();
    expect(run.Instances.map((i: { State: { Name: string } }) => i.State.Name)).toEqual(
      Array(7).fill("pending"),
    );
    await waitFor(ids, "running");

    // The CLI pages by itself: five instances a page (EC2's least), every one once.
    const paged = ok([
      "describe-instances",
      "--page-size",
      "5",
      "--filters",
      "Name=tag:team,Values=cli",
      "Name=instance-state-name,Values=running",
    ]);
    const listed = paged.Reservations.flatMap((r: { Instances: { InstanceId: string }[] }) =>
      r.Instances.map((i) => i.InstanceId),
    );
    expect(listed.sort()).toEqual(ids);

    const [id] = ids;
    const stop = ok(["stop-instances", "--instance-ids", id]);
    expect(stop.StoppingInstances[0].CurrentState.Name).toBe("stopping");
    await waitFor([id], "stopped");
    const start = ok(["start-instances", "--instance-ids", id]);
    expect(start.StartingInstances[0].PreviousState.Name).toBe("stopped");
    await waitFor([id], "running");
    expect(aws(["reboot-instances", "--instance-ids", id]).status).toBe(0);
    const term = ok(["terminate-instances", "--instance-ids", ...ids]);
    expect(
      term.TerminatingInstances.map((t: { CurrentState: { Name: string } }) => t.CurrentState.Name),
    ).toEqual(Array(7).fill("shutting-down"));
    await waitFor(ids, "terminated");
  }, 120_000);

  it("launches once for a client token, refuses a mismatch, and reports capacity", () => {
    const token = `cli-${Date.now()}`;
    const args = ["run-instances", "--instance-type", "c5.large", "--count", "1", "--client-token", token];
    const first = ok(args);
    const again = ok(args);
    expect(again.ReservationId).toBe(first.ReservationId);
    expect(again.Instances[0].InstanceId).toBe(first.Instances[0].InstanceId);
    const mismatch = aws([
      "run-instances",
      "--instance-type",
      "c5.xlarge",
      "--count",
      "1",
      "--client-token",
      token,
    ]);
    expect(mismatch.status).not.toBe(0);
    expect(mismatch.err).toContain("IdempotentParameterMismatch");
    // The demo fleet has three m5 hosts: twenty whole-host instances cannot all launch.
    const full = aws(["run-instances", "--instance-type", "m5.24xlarge", "--count", "20"]);
    expect(full.status).not.toBe(0);
    expect(full.err).toContain("InsufficientInstanceCapacity");
  }, 60_000);

  it("tags, and refuses what it does not offer and a bad signature", () => {
    const [inst] = ok(["run-instances", "--instance-type", "m5.large", "--count", "1"]).Instances;
    expect(aws(["create-tags", "--resources", inst.InstanceId, "--tags", "Key=env,Value=prod"]).status).toBe(
      0,
    );
    const tags = ok(["describe-tags", "--filters", `Name=resource-id,Values=${inst.InstanceId}`]);
    expect(tags.Tags).toEqual([
      { ResourceId: inst.InstanceId, ResourceType: "instance", Key: "env", Value: "prod" },
    ]);
    const images = aws(["describe-images"]);
    expect(images.err).toContain("InvalidAction");
    const bad = aws(["describe-instances"], { AWS_SECRET_ACCESS_KEY: "x".repeat(40) });
    expect(bad.status).not.toBe(0);
    expect(bad.err).toContain("SignatureDoesNotMatch");
  }, 60_000);
  it("creates a volume in the demo's storage, attaches it, snapshots, detaches and deletes it", async () => {
    const [inst] = ok(["run-instances", "--instance-type", "m5.large", "--count", "1"]).Instances;
    const zone: string = inst.Placement.AvailabilityZone;
    await waitFor([inst.InstanceId], "running");
    const vol = ok(["create-volume", "--size", "8", "--volume-type", "gp3", "--availability-zone", zone]);
    expect(vol.VolumeId).toMatch(/^vol-[0-9a-f]{17}$/);
    const att = ok([
      "attach-volume",
      "--volume-id",
      vol.VolumeId,
      "--instance-id",
      inst.InstanceId,
      "--device",
      "/dev/sdf",
    ]);
    expect(att.State).toBe("attached");
    const listed = ok([
      "describe-volumes",
      "--filters",
      `Name=attachment.instance-id,Values=${inst.InstanceId}`,
    ]);
    expect(listed.Volumes.map((v: { VolumeId: string; State: string }) => [v.VolumeId, v.State])).toEqual([
      [vol.VolumeId, "in-use"],
    ]);
    expect(aws(["delete-volume", "--volume-id", vol.VolumeId]).err).toContain("VolumeInUse");
    const snap = ok(["create-snapshot", "--volume-id", vol.VolumeId]);
    expect(snap.SnapshotId).toMatch(/^snap-[0-9a-f]{17}$/);
    expect(snap.VolumeSize).toBe(8);
    expect(ok(["detach-volume", "--volume-id", vol.VolumeId]).InstanceId).toBe(inst.InstanceId);
    expect(aws(["delete-volume", "--volume-id", vol.VolumeId]).status).toBe(0);
    expect(aws(["describe-volumes", "--volume-ids", vol.VolumeId]).err).toContain("InvalidVolume.NotFound");
  }, 60_000);
});
