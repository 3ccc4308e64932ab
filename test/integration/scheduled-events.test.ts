// Scheduled events as EC2 has them: the operator schedules one, it shows on the instance and is an
// event, and once the clock passes not-before the fleet acts: a retirement migrates where it can,
// else stops; reboot and stop events reboot and stop. A retirement completes only once its instance
// has left; an event whose ending was lost is reclaimed by reconcile.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { OPERATOR } from "../../src/fleet/accounts";
import { Fleet } from "../../src/fleet/context";
import { reclaimScheduledEvents, SCHEDULED_EVENT_LEASE_MS } from "../../src/fleet/scheduled-events";
import {
  ADMIN_KEY,
  addHosts,
  advance,
  bearer,
  call,
  defaultTenant,
  freshZone,
  getInstance,
  launch,
  newTenant,
  type Problem,
} from "./helpers";
import { finishMigration } from "./migration-driver";

interface StatusBody {
  instanceState: { name: string };
  events: {
    instanceEventId: string;
    code: string;
    state: string;
    outcome: string | null;
    migrationId: string | null;
  }[];
}

const finish = (migrationId: string) => finishMigration(migrationId);

async function running(zone: string, type = "m5.large") {
  const res = await launch({ instanceType: type, availabilityZone: zone });
  expect(res.status).toBe(201);
  await advance(600);
  return res.body.instances[0].instanceId;
}

async function schedule(id: string, code: string, inSeconds: number) {
  const now = (await call<{ nowMs: number }>("GET", "/v1/clock")).body.nowMs;
  return call<{ instanceEventId: string; state: string } & Problem>(
    "POST",
    `/v1/instances/${id}/scheduled-events`,
    { code, notBefore: new Date(now + inSeconds * 1000).toISOString() },
    bearer(ADMIN_KEY),
  );
}

const status = async (id: string) => (await call<StatusBody>("GET", `/v1/instances/${id}/status`)).body;

describe("scheduled events", () => {
  it("retires an instance by live-migrating it once the window opens, and shows the event on the instance", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 2);
    const id = await running(zone);
    const from = (await getInstance(id)).body.hostId;
    const s = await schedule(id, "instance-retirement", 3600);
    expect(s.status).toBe(201);
    expect((await status(id)).events).toMatchObject([{ code: "instance-retirement", state: "scheduled" }]);
    // Not yet due: nothing happens.
    await advance(60);
    expect((await status(id)).events[0].state).toBe("scheduled");
    await advance(3600);
    const ev = (await status(id)).events[0];
    // Acting while its migration runs: it completes only once the instance has left.
    expect(ev.state).toBe("acting");
    expect(ev.migrationId).not.toBeNull();
    await finish(ev.migrationId!);
    const inst = (await getInstance(id)).body;
    expect(inst.hostId).not.toBe(from);
    expect(inst.state.name).toBe("running");
    expect((await status(id)).events[0]).toMatchObject({
      state: "completed",
      outcome: expect.stringMatching(/completed: the instance left its host/),
    });
    const evs = await call<{ events: { type: string }[] }>("GET", `/v1/events?instanceId=${id}&limit=100`);
    const types = evs.body.events.map((e) => e.type);
    expect(types).toContain("instance.event-scheduled");
    expect(types).toContain("instance.event-completed");
    // Another account sees neither the instance's status nor its events.
    const other = await newTenant("other");
    expect((await call("GET", `/v1/instances/${id}/status`, undefined, bearer(other.apiKey))).status).toBe(
      404,
    );
  });

  it("stops a retiring instance that cannot move: no room in its family, or instance store", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const alone = await running(zone);
    await schedule(alone, "instance-retirement", 10);
    await advance(20);
    const ev = (await status(alone)).events[0];
    expect(ev.migrationId).not.toBeNull();
    expect(ev.state).toBe("acting");
    await finish(ev.migrationId!);
    await advance(600);
    expect((await getInstance(alone)).body.state.name).toBe("stopped");
    expect((await status(alone)).events[0].outcome).toMatch(/stop: running -> stopping/);
    // The instance never left by migration: the retirement failed, and says why and what was done instead.
    expect((await status(alone)).events[0]).toMatchObject({
      state: "failed",
      outcome: expect.stringMatching(
        /live migration mig-[0-9a-f]+ failed: InsufficientInstanceCapacity.*; stop:/,
      ),
    });

    const zone2 = freshZone();
    await addHosts(zone2, "m5d", 2);
    const local = await running(zone2, "m5d.large");
    await schedule(local, "instance-retirement", 10);
    await advance(20);
    const ev2 = (await status(local)).events[0];
    expect(ev2.migrationId).toBeNull();
    expect(ev2.outcome).toMatch(/UnsupportedOperation.*stop: running -> stopping/);
  });

  it("reboots and stops on reboot and stop events, and refuses bad input naming the field", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const id = await running(zone);
    await schedule(id, "system-reboot", 10);
    await schedule(id, "instance-stop", 100);
    await advance(20);
    const first = await status(id);
    expect(first.events.map((e) => [e.code, e.state])).toEqual([
      ["system-reboot", "completed"],
      ["instance-stop", "scheduled"],
    ]);
    expect(first.events[0].outcome).toMatch(/reboot: running -> running/);
    await advance(200);
    expect(["stopping", "stopped"]).toContain((await status(id)).instanceState.name);

    const bad = await call<Problem>(
      "POST",
      `/v1/instances/${id}/scheduled-events`,
      {
        code: "instance-retirement",
        notBefore: "2026-01-02T00:00:00.000Z",
        notAfter: "2026-01-01T00:00:00.000Z",
      },
      bearer(ADMIN_KEY),
    );
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/notAfter/);
    const unknown = await call<Problem>(
      "POST",
      `/v1/instances/${id}/scheduled-events`,
      { code: "host-meltdown", notBefore: "2026-01-02T00:00:00.000Z" },
      bearer(ADMIN_KEY),
    );
    expect(unknown.status).toBe(400);
    const tenant = await call<Problem>(
      "POST",
      `/v1/instances/${id}/scheduled-events`,
      { code: "instance-stop", notBefore: "2026-01-02T00:00:00.000Z" },
      bearer((await defaultTenant()).apiKey),
    );
    expect(tenant.status).toBe(403);
  });
  it("reclaims an event left acting when the step that should end it is lost", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 2);
    const id = await running(zone);
    await schedule(id, "instance-retirement", 10);
    await advance(20);
    const ev = (await status(id)).events[0];
    await finish(ev.migrationId!);
    expect((await status(id)).events[0].state).toBe("completed");
    // The migration ended but the write that ended its event was lost: it is acting again.
    const reset = () =>
      env.DB.prepare("UPDATE scheduled_events SET state = 'acting', outcome = NULL WHERE id = ?")
        .bind(ev.instanceEventId)
        .run();
    await reset();
    const reclaim = (repair: boolean) => reclaimScheduledEvents(new Fleet(env, OPERATOR), repair);
    expect((await reclaim(false)).reclaimed).toBeGreaterThanOrEqual(1);
    expect((await status(id)).events[0].state).toBe("acting");
    await reclaim(true);
    expect((await status(id)).events[0]).toMatchObject({
      state: "completed",
      outcome: expect.stringMatching(/completed: the instance left its host/),
    });
    // The admin's reconcile does the same.
    await reset();
    const report = await call<{ scheduledEventsReclaimed: number }>("POST", "/v1/admin/reconcile", {
      repair: true,
    });
    expect(report.status).toBe(200);
    expect(report.body.scheduledEventsReclaimed).toBeGreaterThanOrEqual(1);
    expect((await status(id)).events[0].state).toBe("completed");

    // A retirement whose request recorded its migration's id and stopped before creating it: past
    // its lease it is scheduled again, and acts.
    const retiring = await running(zone);
    await schedule(retiring, "instance-retirement", 10);
    const orphan = (await status(retiring)).events[0];
    const claimedAt = (await call<{ nowMs: number }>("GET", "/v1/clock")).body.nowMs;
    await env.DB.prepare(
      "UPDATE scheduled_events SET state = 'acting', acted_at = ?, migration_id = 'mig-0123456789abcdef0' WHERE id = ?",
    )
      .bind(claimedAt, orphan.instanceEventId)
      .run();
    await advance(SCHEDULED_EVENT_LEASE_MS / 1000);
    await reclaim(true);
    expect((await status(retiring)).events[0]).toMatchObject({ state: "scheduled", migrationId: null });
    await advance(1);
    const retried = (await status(retiring)).events[0];
    expect(retried.state).toBe("acting");
    expect(retried.migrationId).not.toBe("mig-0123456789abcdef0");
    await finish(retried.migrationId!);
    expect((await status(retiring)).events[0].state).toBe("completed");

    // A stop claimed by a request that stopped before it acted: only once its lease has passed does
    // it go back to scheduled, and then it acts.
    const stopping = await running(zone);
    await schedule(stopping, "instance-stop", 10);
    const now = (await call<{ nowMs: number }>("GET", "/v1/clock")).body.nowMs;
    const stuck = (await status(stopping)).events[0];
    await env.DB.prepare("UPDATE scheduled_events SET state = 'acting', acted_at = ? WHERE id = ?")
      .bind(now, stuck.instanceEventId)
      .run();
    await advance(20);
    await reclaim(true);
    expect((await status(stopping)).events[0].state).toBe("acting");
    expect((await getInstance(stopping)).body.state.name).toBe("running");
    await advance(SCHEDULED_EVENT_LEASE_MS / 1000);
    await reclaim(true);
    expect((await status(stopping)).events[0].state).toBe("scheduled");
    await advance(1);
    expect((await status(stopping)).events[0]).toMatchObject({
      state: "completed",
      outcome: "stop: running -> stopping",
    });
  });
});
