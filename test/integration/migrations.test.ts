// Live migration through the API and the migrations queue's steps: the instance ends on exactly one
// host, no reservation is left behind, and every migration ends, whatever is redelivered, reordered
// or fails along the way.
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OPERATOR } from "../../src/fleet/accounts";
import { Fleet } from "../../src/fleet/context";
import { runStep, type StepMessage } from "../../src/fleet/migration-steps";
import {
  addHosts,
  advance,
  bearer,
  call,
  freshZone,
  getInstance,
  hostView,
  launch,
  newTenant,
  type Problem,
} from "./helpers";
import { allSteps, clockNow, driveSteps, finishMigration, step } from "./migration-driver";

interface MigrationBody {
  migrationId: string;
  instanceId: string;
  sourceHostId: string;
  destinationHostId: string | null;
  status: string;
  reason: string | null;
  mode: string;
  downtimeMs: number | null;
  ram: { total: number; transferred: number; remaining: number; dirtySyncCount: number } | null;
  startedAt: string | null;
  switchAt: string | null;
  lastPageAt: string | null;
  rounds: { round: number; pagesSent: number }[];
  policy: string | null;
}

const TERMINAL = ["completed", "failed", "cancelled"];

const finish = (migrationId: string, copies = 1, pick?: (n: number) => number) =>
  finishMigration<MigrationBody>(migrationId, copies, pick);

async function runningInstance(zone: string, type = "m5.large", extra: Record<string, unknown> = {}) {
  const res = await launch({ instanceType: type, availabilityZone: zone, ...extra });
  expect(res.status).toBe(201);
  await advance(600);
  const id = res.body.instances[0].instanceId;
  expect((await getInstance(id)).body.state.name).toBe("running");
  return id;
}

/** Where the instance runs, by asking every host object (the truth), and the holds left on them. */
async function whereabouts(instanceId: string, hostIds: string[]) {
  const on: string[] = [];
  let held = 0;
  for (const h of hostIds) {
    const v = await hostView(h);
    if (v.vms.some((i) => i.instanceId === instanceId)) on.push(h);
    held += v.heldCount;
  }
  return { on, held };
}

describe("live migration", () => {
  it("moves a running instance to another host of its family, shaped like query-migrate", async () => {
    const zone = freshZone();
    const hosts = await addHosts(zone, "m5", 2);
    const id = await runningInstance(zone);
    const source = (await getInstance(id)).body.hostId!;
    const res = await call<MigrationBody>("POST", `/v1/instances/${id}/migrate`, {});
    expect(res.status).toBe(202);
    expect(res.body.status).toBe("setup");
    expect(res.body.sourceHostId).toBe(source);

    const done = await finish(res.body.migrationId);
    expect(done.status).toBe("completed");
    expect(done.destinationHostId).not.toBe(source);
    expect(done.policy).toBe("qemu");
    expect(done.ram!.total).toBe(8 * 1024 ** 3);
    expect(done.ram!.transferred).toBeGreaterThanOrEqual(done.ram!.total);
    expect(done.ram!.remaining).toBe(0);
    expect(done.rounds[0].pagesSent).toBe((8 * 1024 ** 3) / 4096);
    expect(done.downtimeMs).toBeGreaterThan(0);

    const inst = (await getInstance(id)).body;
    expect(inst.hostId).toBe(done.destinationHostId);
    expect(inst.state.name).toBe("running");
    const w = await whereabouts(
      id,
      hosts.map((h) => h.hostId),
    );
    expect(w.on).toEqual([done.destinationHostId]);
    expect(w.held).toBe(0);

    // Its events: the migration's transitions once each, and the move from both hosts.
    const evs = await call<{ events: { type: string; state: string }[] }>(
      "GET",
      `/v1/events?instanceId=${id}&limit=100`,
    );
    const transitions = evs.body.events
      .filter((e) => e.type === "migration.state-changed")
      .map((e) => e.state);
    expect(transitions).toEqual(["setup", "active", "device", "completed"]);
    expect(evs.body.events.filter((e) => e.type === "instance.migrated")).toHaveLength(2);

    // The instance takes actions again, now on its new host.
    expect((await call("POST", `/v1/instances/${id}/stop`)).status).toBe(200);
  });

  it("gives the same result when every step message is delivered twice and out of order", async () => {
    const outcomes: string[] = [];
    for (const seed of [1, 2, 3]) {
      const zone = freshZone();
      const hosts = await addHosts(zone, "m5", 2);
      const id = await runningInstance(zone);
      const m = await call<MigrationBody>("POST", `/v1/instances/${id}/migrate`, {});
      let s = seed;
      // A small LCG, so the order is random but replays.
      const pick = (n: number) => {
        s = (s * 1103515245 + 12345) >>> 0;
        return s % n;
      };
      const done = await finish(m.body.migrationId, 2, pick);
      const w = await whereabouts(
        id,
        hosts.map((h) => h.hostId),
      );
      const evs = await call<{ events: { type: string; state: string }[] }>(
        "GET",
        `/v1/events?instanceId=${id}&limit=100`,
      );
      outcomes.push(
        JSON.stringify({
          status: done.status,
          on: w.on.length === 1 && w.on[0] === done.destinationHostId,
          held: w.held,
          transitions: evs.body.events
            .filter((e) => e.type === "migration.state-changed")
            .map((e) => e.state),
          moves: evs.body.events.filter((e) => e.type === "instance.migrated").length,
        }),
      );
    }
    const once = JSON.stringify({
      status: "completed",
      on: true,
      held: 0,
      transitions: ["setup", "active", "device", "completed"],
      moves: 2,
    });
    expect(outcomes).toEqual([once, once, once]);
  });

  it("refuses an instance with instance store unless the caller accepts losing it", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5d", 2);
    const id = await runningInstance(zone, "m5d.large");
    const refused = await call<Problem>("POST", `/v1/instances/${id}/migrate`, {});
    expect(refused.status).toBe(400);
    expect(refused.body.code).toBe("UnsupportedOperation");
    expect(refused.body.detail).toMatch(/acceptInstanceStoreLoss/);
    const accepted = await call<MigrationBody>("POST", `/v1/instances/${id}/migrate`, {
      acceptInstanceStoreLoss: true,
    });
    expect(accepted.status).toBe(202);
    expect((await finish(accepted.body.migrationId)).status).toBe("completed");
  });

  it("answers bad input with a 4xx naming the field, and changes nothing", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 2);
    const id = await runningInstance(zone);
    const bad = await call<Problem>("POST", `/v1/instances/${id}/migrate`, { bandwidthMbps: 0 });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/bandwidthMbps/);
    const stray = await call<Problem>("POST", `/v1/instances/${id}/migrate`, { speed: 1 });
    expect(stray.status).toBe(400);
    const dest = await call<Problem>("POST", `/v1/instances/${id}/migrate`, {
      destinationHostId: "h-0123456789abcdef0",
    });
    expect(dest.status).toBe(400);
    expect(dest.body.detail).toMatch(/destinationHostId/);
    expect(
      (await call<{ migrations: unknown[] }>("GET", `/v1/migrations?instanceId=${id}`)).body.migrations,
    ).toHaveLength(0);

    const first = await call<MigrationBody>("POST", `/v1/instances/${id}/migrate`, {});
    expect(first.status).toBe(202);
    const second = await call<Problem>("POST", `/v1/instances/${id}/migrate`, {});
    expect(second.status).toBe(409);
    expect(second.body.code).toBe("IncorrectInstanceState");
    // While it migrates, the instance takes no lifecycle action.
    const fleet = new Fleet(env, OPERATOR);
    await runStep(fleet, { migrationId: first.body.migrationId, step: "reserve" });
    await runStep(fleet, { migrationId: first.body.migrationId, step: "precopy" });
    const busy = await call<Problem>("POST", `/v1/instances/${id}/stop`);
    expect(busy.status).toBe(409);
    expect(busy.body.code).toBe("IncorrectInstanceState");
    await finish(first.body.migrationId);
    const stopped = await call("POST", `/v1/instances/${id}/stop`);
    expect(stopped.status).toBe(200);
    await advance(600);
    const notRunning = await call<Problem>("POST", `/v1/instances/${id}/migrate`, {});
    expect(notRunning.status).toBe(409);
  });

  it("keeps another account's migrations out of sight", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 2);
    const id = await runningInstance(zone);
    const m = await call<MigrationBody>("POST", `/v1/instances/${id}/migrate`, {});
    const other = await newTenant("other");
    const seen = await call<Problem>(
      "GET",
      `/v1/migrations/${m.body.migrationId}`,
      undefined,
      bearer(other.apiKey),
    );
    expect(seen.status).toBe(404);
    expect(seen.body.code).toBe("InvalidMigrationID.NotFound");
    const list = await call<{ migrations: unknown[] }>(
      "GET",
      "/v1/migrations",
      undefined,
      bearer(other.apiKey),
    );
    expect(list.body.migrations).toHaveLength(0);
    const cancel = await call<Problem>(
      "POST",
      `/v1/migrations/${m.body.migrationId}/cancel`,
      undefined,
      bearer(other.apiKey),
    );
    expect(cancel.status).toBe(404);
    const theirs = await call<Problem>("POST", `/v1/instances/${id}/migrate`, {}, bearer(other.apiKey));
    expect(theirs.status).toBe(404);
    await finish(m.body.migrationId);
  });

  it("cancels before the switch: the instance stays on its source and nothing stays reserved", async () => {
    const zone = freshZone();
    const hosts = await addHosts(zone, "m5", 2);
    const id = await runningInstance(zone);
    const source = (await getInstance(id)).body.hostId!;
    const m = await call<MigrationBody>("POST", `/v1/instances/${id}/migrate`, {});
    // Reserve only, then cancel.
    const fleet = new Fleet(env, OPERATOR);
    await runStep(fleet, { migrationId: m.body.migrationId, step: "reserve" });
    expect(
      (
        await whereabouts(
          id,
          hosts.map((h) => h.hostId),
        )
      ).held,
    ).toBe(1);
    const c = await call<MigrationBody>("POST", `/v1/migrations/${m.body.migrationId}/cancel`);
    expect(c.status).toBe(200);
    expect(c.body.status).toBe("cancelled");
    const done = await finish(m.body.migrationId);
    expect(done.status).toBe("cancelled");
    const w = await whereabouts(
      id,
      hosts.map((h) => h.hostId),
    );
    expect(w).toEqual({ on: [source], held: 0 });
    const again = await call<Problem>("POST", `/v1/migrations/${m.body.migrationId}/cancel`);
    expect(again.status).toBe(409);
  });
});

/**
 * Fresh zones of two m5 hosts with a running m5.large each, made ten at a time up front (a property's
 * runs then spend their time on the migration, not on building fleets); more are made as needed.
 */
function twoHostFleets(expected: number) {
  const ready: { ids: string[]; id: string; source: string }[] = [];
  async function make(n: number) {
    const zones = Array.from({ length: n }, () => freshZone());
    const hostIds = await Promise.all(
      zones.map(async (z) => (await addHosts(z, "m5", 2)).map((h) => h.hostId)),
    );
    // One at a time: launches into new zones at once race on the default VPC's subnets.
    const launched: Awaited<ReturnType<typeof launch>>[] = [];
    for (const z of zones) launched.push(await launch({ instanceType: "m5.large", availabilityZone: z }));
    await advance(600);
    for (let k = 0; k < n; k++) {
      expect(launched[k].status).toBe(201);
      const inst = launched[k].body.instances[0];
      ready.push({ ids: hostIds[k], id: inst.instanceId, source: inst.hostId! });
    }
  }
  let left = expected;
  return {
    async take() {
      if (ready.length === 0) {
        await make(Math.max(1, Math.min(10, left)));
      }
      left--;
      const f = ready.shift()!;
      expect((await getInstance(f.id)).body.state.name).toBe("running");
      return f;
    },
  };
}

describe("live migration in simulated time", () => {
  /** A migration started and run up to its switch, which waits for the clock. */
  async function upToSwitch(mode: "precopy" | "postcopy") {
    const zone = freshZone();
    const hosts = await addHosts(zone, "m5", 2);
    const ids = hosts.map((h) => h.hostId);
    const id = await runningInstance(zone);
    const source = (await getInstance(id)).body.hostId!;
    const destination = ids.find((h) => h !== source)!;
    const m = await call<MigrationBody>("POST", `/v1/instances/${id}/migrate`, { mode });
    const migrationId = m.body.migrationId;
    await step({ migrationId, step: "reserve" });
    const waiting = await step({ migrationId, step: "precopy" });
    const v = (await call<MigrationBody>("GET", `/v1/migrations/${migrationId}`)).body;
    expect(v.status).toBe("active");
    const switchAt = Date.parse(v.switchAt!);
    const lastPageAt = Date.parse(v.lastPageAt!);
    // The switch is due when the rounds have run, in simulated time, and not before.
    expect(waiting).toEqual([{ migrationId, step: "switch", at: switchAt }]);
    expect(switchAt).toBeGreaterThan(Date.parse(v.startedAt!));
    expect(await step({ migrationId, step: "switch" })).toEqual(waiting);
    expect((await call<MigrationBody>("GET", `/v1/migrations/${migrationId}`)).body.status).toBe("active");
    return { id, ids, source, destination, migrationId, switchAt, lastPageAt };
  }

  /** Moves the clock to `t` (or just past it). */
  async function advanceTo(t: number) {
    const now = await clockNow();
    if (t > now) await advance(Math.ceil((t - now) / 1000));
  }

  it("keeps a post-copied guest whose source fails after its last page arrived, though the release step runs after the failure", async () => {
    const m = await upToSwitch("postcopy");
    expect(m.lastPageAt).toBeGreaterThan(m.switchAt + 1000);
    await advanceTo(m.switchAt);
    await step({ migrationId: m.migrationId, step: "switch" });
    expect((await call<MigrationBody>("GET", `/v1/migrations/${m.migrationId}`)).body.status).toBe(
      "postcopy-active",
    );
    // The last page arrives; only then does the source fail, and only after that does release run.
    await advanceTo(m.lastPageAt + 1000);
    await call("PUT", `/v1/hosts/${m.source}/state`, { state: "failed" });
    await step({ migrationId: m.migrationId, step: "release" });
    const done = await finish(m.migrationId);
    expect(done.status).toBe("completed");
    const inst = (await getInstance(m.id)).body;
    expect(inst.state.name).toBe("running");
    expect(inst.hostId).toBe(m.destination);
    expect(await whereabouts(m.id, m.ids)).toEqual({ on: [m.destination], held: 0 });
  });

  it("loses a post-copied guest whose source fails after the switch and before its last page arrives", async () => {
    const m = await upToSwitch("postcopy");
    await advanceTo(m.switchAt);
    await step({ migrationId: m.migrationId, step: "switch" });
    // Post-copy is not over: release waits for the last page.
    expect(await step({ migrationId: m.migrationId, step: "release" })).toEqual([
      { migrationId: m.migrationId, step: "release", at: m.lastPageAt },
    ]);
    await advance(1);
    await call("PUT", `/v1/hosts/${m.source}/state`, { state: "failed" });
    const done = await finish(m.migrationId);
    expect(done.status).toBe("failed");
    expect(done.reason).toMatch(/during post-copy, before the last page arrived/);
    expect(["shutting-down", "terminated"]).toContain((await getInstance(m.id)).body.state.name);
    expect((await whereabouts(m.id, m.ids)).held).toBe(0);
  });

  it("moves a guest whose source fails after the switch time but before the switch step runs", async () => {
    const m = await upToSwitch("precopy");
    await advanceTo(m.switchAt + 1000);
    // In simulated time the guest had already left: a cancel is too late, and the failure cannot stop it.
    const late = await call<Problem>("POST", `/v1/migrations/${m.migrationId}/cancel`);
    expect(late.status).toBe(409);
    await call("PUT", `/v1/hosts/${m.source}/state`, { state: "failed" });
    const done = await finish(m.migrationId);
    expect(done.status).toBe("completed");
    const inst = (await getInstance(m.id)).body;
    expect(inst.state.name).toBe("running");
    expect(inst.hostId).toBe(m.destination);
    expect(await whereabouts(m.id, m.ids)).toEqual({ on: [m.destination], held: 0 });
  });

  it("stops a guest whose source fails before the switch time, though the switch step runs after", async () => {
    const m = await upToSwitch("precopy");
    await call("PUT", `/v1/hosts/${m.source}/state`, { state: "failed" });
    await advanceTo(m.switchAt + 1000);
    const done = await finish(m.migrationId);
    expect(done.status).toBe("failed");
    expect(done.reason).toMatch(/source host failed at .*, before the switch/);
    expect((await getInstance(m.id)).body.state.name).toBe("stopped");
    expect(await whereabouts(m.id, m.ids)).toEqual({ on: [], held: 0 });
  });

  it("takes a guest down with a destination that fails after the switch time but before the switch step runs", async () => {
    // Pre-copy: the guest had all its memory at the switch, so the migration completed before the
    // destination failed, and the guest went down with its new host.
    const m = await upToSwitch("precopy");
    await advanceTo(m.switchAt + 1000);
    await call("PUT", `/v1/hosts/${m.destination}/state`, { state: "failed" });
    const done = await finish(m.migrationId);
    expect(done.status).toBe("completed");
    const inst = (await getInstance(m.id)).body;
    expect(inst.state.name).toBe("stopped");
    expect(inst.stateTransitionReason).toMatch(
      /destination host .* failed at .*, after the migration completed/,
    );
    expect(inst.hostId).toBeNull();
    expect(await whereabouts(m.id, m.ids)).toEqual({ on: [], held: 0 });

    // Post-copy, the destination failing before the last page arrived: the migration failed with it.
    const p = await upToSwitch("postcopy");
    expect(p.lastPageAt).toBeGreaterThan(p.switchAt + 1);
    await advanceTo(p.switchAt + 1);
    await call("PUT", `/v1/hosts/${p.destination}/state`, { state: "failed" });
    const lost = await finish(p.migrationId);
    expect(lost.status).toBe("failed");
    expect(lost.reason).toMatch(/destination host .* failed at .*, after the guest moved there/);
    expect((await getInstance(p.id)).body.state.name).toBe("stopped");
    expect(await whereabouts(p.id, p.ids)).toEqual({ on: [], held: 0 });
  });

  it("admits the guest again when the destination's hold lapsed before the switch time, and fails it when the room is gone", async () => {
    const m = await upToSwitch("precopy");
    // The hold lapses in wall time, as on a clock slower than the rounds: the destination drops it.
    const lapse = async (host: string, instanceId: string, migrationId: string) => {
      const fleet = new Fleet(env, OPERATOR);
      await fleet.host(host).releaseIncoming(instanceId, migrationId, await fleet.clock());
    };
    await lapse(m.destination, m.id, m.migrationId);
    expect((await whereabouts(m.id, m.ids)).held).toBe(0);
    await advanceTo(m.switchAt + 1000);
    const done = await finish(m.migrationId);
    expect(done.status).toBe("completed");
    expect(await whereabouts(m.id, m.ids)).toEqual({ on: [m.destination], held: 0 });

    // The same, but the room went to another instance meanwhile: the migration fails, the guest stays.
    const n = await upToSwitch("precopy");
    await lapse(n.destination, n.id, n.migrationId);
    const filler = await launch({
      instanceType: "m5.24xlarge",
      availabilityZone: (await getInstance(n.id)).body.availabilityZone,
    });
    expect(filler.status).toBe(201);
    await advanceTo(n.switchAt + 1000);
    const failed = await finish(n.migrationId);
    expect(failed.status).toBe("failed");
    expect(failed.reason).toMatch(/no longer held the reservation/);
    expect(await whereabouts(n.id, n.ids)).toEqual({ on: [n.source], held: 0 });
  });

  it("cancels while the rounds run, up to the switch time", async () => {
    const m = await upToSwitch("precopy");
    const c = await call<MigrationBody>("POST", `/v1/migrations/${m.migrationId}/cancel`);
    expect(c.status).toBe(200);
    await advanceTo(m.switchAt + 1000);
    const done = await finish(m.migrationId);
    expect(done.status).toBe("cancelled");
    expect(await whereabouts(m.id, m.ids)).toEqual({ on: [m.source], held: 0 });
  });
});

describe("live migration under random faults", () => {
  it("ends every migration with the instance on exactly one host (or down with a reason) and nothing reserved, as the simulated times of its faults decide", async () => {
    const fleets = twoHostFleets(30);
    type Fault = {
      at: number;
      kind: "fail-source" | "fail-destination" | "cancel" | "duplicate" | "advance";
      seconds: number;
    };
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            at: fc.integer({ min: 0, max: 7 }),
            kind: fc.constantFrom("fail-source", "fail-destination", "cancel", "duplicate", "advance"),
            seconds: fc.integer({ min: 1, max: 90 }),
          }),
          { maxLength: 4 },
        ),
        fc.constantFrom("precopy", "postcopy"),
        fc.integer({ min: 0, max: 1000 }),
        async (faults: Fault[], mode, seed) => {
          const { ids, id, source } = await fleets.take();
          const destination = ids.find((h) => h !== source)!;
          const m = await call<MigrationBody>("POST", `/v1/instances/${id}/migrate`, { mode });
          expect(m.status).toBe(202);
          const queue: StepMessage[] = [{ migrationId: m.body.migrationId, step: "reserve" }];
          let s = seed;
          const pick = (n: number) => {
            s = (s * 1103515245 + 12345) >>> 0;
            return s % n;
          };
          // The simulated times the test failed each host and had a cancel accepted: the oracle.
          let sourceFailed: number | null = null;
          let destinationFailed: number | null = null;
          let cancelled: number | null = null;
          // Only the test's advances move the manual clock.
          let now = await clockNow();
          // Eight ticks of faults and deliveries; what is still queued after them, finish() delivers.
          for (let tick = 0; tick <= 7; tick++) {
            for (const f of faults.filter((x) => x.at === tick)) {
              if (f.kind === "fail-source" && sourceFailed === null) {
                await call("PUT", `/v1/hosts/${source}/state`, { state: "failed" });
                sourceFailed = now;
              }
              if (f.kind === "fail-destination" && destinationFailed === null) {
                await call("PUT", `/v1/hosts/${destination}/state`, { state: "failed" });
                destinationFailed = now;
              }
              if (f.kind === "cancel") {
                const c = await call("POST", `/v1/migrations/${m.body.migrationId}/cancel`);
                if (c.status === 200) cancelled = now;
              }
              if (f.kind === "duplicate") queue.push(...queue);
              if (f.kind === "advance") now = (await advance(f.seconds)).nowMs;
            }
            const due = queue.flatMap((q, i) => (q.at === undefined || q.at <= now ? [i] : []));
            if (due.length === 0) continue;
            const [msg] = queue.splice(due[pick(due.length)], 1);
            queue.push(...(await step(msg)));
          }
          // Whatever was lost on the way, the steps from where the row is finish it.
          const done = await finish(m.body.migrationId);
          expect(TERMINAL).toContain(done.status);
          const w = await whereabouts(id, ids);
          expect(w.held).toBe(0);
          expect(w.on.length).toBeLessThanOrEqual(1);
          const inst = (await getInstance(id)).body;
          const down = ["stopped", "stopping", "terminated", "shutting-down"];
          const switchAt = done.switchAt === null ? null : Date.parse(done.switchAt);
          const lastPageAt = done.lastPageAt === null ? null : Date.parse(done.lastPageAt);
          const failedBefore = (t: number | null, limit: number | null) =>
            t !== null && (limit === null || t < limit);
          if (done.status === "completed") {
            // It switched, and no host it needed failed before it had all its memory.
            expect(switchAt).not.toBeNull();
            expect(failedBefore(sourceFailed, lastPageAt)).toBe(false);
            expect(failedBefore(destinationFailed, lastPageAt)).toBe(false);
            if (destinationFailed === null) {
              expect(inst.state.name).toBe("running");
              expect(w.on).toEqual([done.destinationHostId]);
            } else expect(down).toContain(inst.state.name);
          } else if (done.status === "cancelled") {
            expect(cancelled).not.toBeNull();
            if (switchAt !== null) expect(cancelled!).toBeLessThan(switchAt);
          } else if (done.reason?.includes("post-copy, before the last page")) {
            // Lost in post-copy: its source failed after the switch and before the last page.
            expect(sourceFailed).not.toBeNull();
            expect(sourceFailed!).toBeGreaterThanOrEqual(switchAt!);
            expect(sourceFailed!).toBeLessThan(lastPageAt!);
            expect(["shutting-down", "terminated"]).toContain(inst.state.name);
          } else {
            // Failed: a host failed before it ended (these hosts have room for it).
            expect(
              failedBefore(sourceFailed, lastPageAt) || failedBefore(destinationFailed, lastPageAt),
              `${done.status}: ${done.reason}`,
            ).toBe(true);
          }
          if (down.includes(inst.state.name)) {
            // Down with a host, or lost in post-copy (terminating where it had arrived): it says why.
            expect(sourceFailed !== null || destinationFailed !== null).toBe(true);
            expect(w.on.length === 0 || inst.hostId === w.on[0]).toBe(true);
          } else {
            // Running: on exactly one host, the one its row names, and the right one for the outcome.
            expect(w.on).toHaveLength(1);
            expect(inst.hostId).toBe(w.on[0]);
            expect(inst.state.name === "running" || inst.state.name === "pending").toBe(true);
            if (done.status === "completed") expect(w.on[0]).toBe(done.destinationHostId);
            else {
              expect(w.on[0]).toBe(source);
              expect(sourceFailed).toBeNull();
            }
          }
        },
      ),
      {
        numRuns: 30,
        // A destination that failed after a post-copy's last page arrived, before the switch step ran.
        examples: [
          [
            [
              { at: 2, kind: "advance", seconds: 7 },
              { at: 2, kind: "fail-destination", seconds: 1 },
            ],
            "postcopy",
            0,
          ],
        ],
      },
    );
  });
});

describe("evacuation and retirement under random faults", () => {
  it("ends with every instance on exactly one host or down, nothing reserved, the evacuation exact and the retirement completed only if its instance left", async () => {
    type Fault = { at: number; kind: "fail-host" | "cancel" | "duplicate" | "advance"; n: number };
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("evacuation", "retirement"),
        fc.array(
          fc.record({
            at: fc.integer({ min: 0, max: 5 }),
            kind: fc.constantFrom("fail-host", "cancel", "duplicate", "advance"),
            n: fc.integer({ min: 1, max: 90 }),
          }),
          { maxLength: 3 },
        ),
        fc.integer({ min: 0, max: 1000 }),
        async (scenario, faults: Fault[], seed) => {
          const zone = freshZone();
          const ids = (await addHosts(zone, "m5", 3)).map((h) => h.hostId);
          const res = await launch({
            instanceType: "m5.2xlarge",
            availabilityZone: zone,
            minCount: 2,
            maxCount: 2,
          });
          expect(res.status).toBe(201);
          await advance(600);
          const instanceIds: string[] = res.body.instances.map((i: { instanceId: string }) => i.instanceId);
          const home = res.body.instances[0].hostId as string;
          let migrationIds: string[];
          let evacuationId: string | null = null;
          let eventId: string | null = null;
          if (scenario === "evacuation") {
            const e = await call<{ evacuationId: string; migrations: { migrationId: string }[] }>(
              "POST",
              `/v1/hosts/${home}/evacuate`,
              {},
            );
            expect(e.status).toBe(202);
            evacuationId = e.body.evacuationId;
            migrationIds = e.body.migrations.map((m) => m.migrationId);
          } else {
            const now = await clockNow();
            const ev = await call<{ instanceEventId: string }>(
              "POST",
              `/v1/instances/${instanceIds[0]}/scheduled-events`,
              { code: "instance-retirement", notBefore: new Date(now + 10_000).toISOString() },
            );
            expect(ev.status).toBe(201);
            eventId = ev.body.instanceEventId;
            await advance(20);
            const st = await call<{ events: { migrationId: string | null; state: string }[] }>(
              "GET",
              `/v1/instances/${instanceIds[0]}/status`,
            );
            expect(st.body.events[0].state).toBe("acting");
            migrationIds = [st.body.events[0].migrationId!];
          }
          const queue: StepMessage[] = migrationIds.map((migrationId) => ({ migrationId, step: "reserve" }));
          let s = seed;
          const pick = (n: number) => {
            s = (s * 1103515245 + 12345) >>> 0;
            return s % n;
          };
          let now = await clockNow();
          for (let tick = 0; tick <= 5; tick++) {
            for (const f of faults.filter((x) => x.at === tick)) {
              if (f.kind === "fail-host")
                await call("PUT", `/v1/hosts/${ids[f.n % ids.length]}/state`, { state: "failed" });
              if (f.kind === "cancel")
                await call("POST", `/v1/migrations/${migrationIds[f.n % migrationIds.length]}/cancel`);
              if (f.kind === "duplicate") queue.push(...queue);
              if (f.kind === "advance") now = (await advance(f.n)).nowMs;
            }
            const due = queue.flatMap((q, i) => (q.at === undefined || q.at <= now ? [i] : []));
            if (due.length === 0) continue;
            const [msg] = queue.splice(due[pick(due.length)], 1);
            queue.push(...(await step(msg)));
          }
          await driveSteps(allSteps(migrationIds));
          const down = ["stopped", "stopping", "terminated", "shutting-down"];
          const outcomes = new Map<string, MigrationBody>();
          for (const m of migrationIds) {
            const v = (await call<MigrationBody>("GET", `/v1/migrations/${m}`)).body;
            expect(TERMINAL).toContain(v.status);
            outcomes.set(v.instanceId, v);
          }
          // Each instance on exactly one host (the one its record names) or down; nothing held anywhere.
          let held = 0;
          const on = new Map<string, string[]>();
          for (const h of ids) {
            const v = await hostView(h);
            held += v.heldCount;
            for (const vm of v.vms) on.set(vm.instanceId, [...(on.get(vm.instanceId) ?? []), h]);
          }
          expect(held).toBe(0);
          for (const id of instanceIds) {
            const inst = (await getInstance(id)).body;
            const where = on.get(id) ?? [];
            if (down.includes(inst.state.name)) expect(where.length).toBeLessThanOrEqual(1);
            else {
              expect(where).toEqual([inst.hostId]);
              const m = outcomes.get(id);
              if (m?.status === "completed") expect(inst.hostId).toBe(m.destinationHostId);
            }
          }
          if (evacuationId) {
            const e = (
              await call<{
                state: string;
                done: boolean;
                moved: { instanceId: string; destinationHostId: string }[];
                notMoved: { instanceId: string; reason: string }[];
              }>("GET", `/v1/evacuations/${evacuationId}`)
            ).body;
            expect(e.done).toBe(true);
            // Every instance is named once: moved, or not moved with a reason.
            const named = [...e.moved.map((m) => m.instanceId), ...e.notMoved.map((n) => n.instanceId)];
            expect(named.sort()).toEqual([...instanceIds].sort());
            expect(e.state).toBe(e.notMoved.length === 0 ? "completed" : "incomplete");
            for (const m of e.moved) expect(outcomes.get(m.instanceId)?.status).toBe("completed");
            for (const n of e.notMoved) expect(n.reason.length).toBeGreaterThan(0);
          } else {
            const st = await call<{ events: { instanceEventId: string; state: string; outcome: string }[] }>(
              "GET",
              `/v1/instances/${instanceIds[0]}/status`,
            );
            const ev = st.body.events.find((e) => e.instanceEventId === eventId)!;
            const m = outcomes.get(instanceIds[0])!;
            // Completed exactly when its instance left by the migration; otherwise failed, saying why.
            expect(ev.state).toBe(m.status === "completed" ? "completed" : "failed");
            expect(ev.outcome).toContain(m.migrationId);
          }
        },
      ),
      { numRuns: 8 },
    );
  });
});
