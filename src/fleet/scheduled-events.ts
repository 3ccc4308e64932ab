// Scheduled events on instances, as EC2 has them: the operator schedules one with a window
// (not-before, not-after); it shows on the instance (DescribeInstanceStatus) and is a fleet event;
// once the clock passes not-before the fleet acts. A retirement or a system maintenance live-migrates
// the instance where it can; where it cannot (instance store, no room), a retirement stops it and a
// maintenance reboots it. Reboot and stop events reboot and stop. An event whose migration runs stays
// `acting` until the migration ends: completed only if the instance left its host.
import { and, eq, inArray, lte } from "drizzle-orm";
import { instances, migrations, scheduledEvents } from "../db/schema";
import type { InstanceAction } from "../sim/lifecycle";
import { type FleetEvent, type InstanceRecord, withoutTags } from "../sim/records";
import type { Fleet } from "./context";
import { ApiError, invalidParameter } from "./errors";
import { newId } from "./ids";
import { act } from "./instance-actions";
import { requireInstanceRow } from "./instance-queries";
import { rowToRecord } from "./instance-rows";
import { createMigration } from "./migrations";
import { mirrorApplied } from "./mirror";

export const SCHEDULED_EVENT_CODES = [
  "instance-reboot",
  "system-reboot",
  "system-maintenance",
  "instance-retirement",
  "instance-stop",
] as const;
export type ScheduledEventCode = (typeof SCHEDULED_EVENT_CODES)[number];

const DESCRIPTIONS: Record<ScheduledEventCode, string> = {
  "instance-reboot": "The instance is scheduled for a reboot",
  "system-reboot": "The instance's host is scheduled for a reboot",
  "system-maintenance": "The instance's host is scheduled for maintenance",
  "instance-retirement": "The instance is running on degraded hardware and is scheduled for retirement",
  "instance-stop": "The instance is scheduled to stop",
};

type EventRow = typeof scheduledEvents.$inferSelect;

function fleetEvent(
  type: "instance.event-scheduled" | "instance.event-completed",
  e: EventRow,
  time: number,
  instance: InstanceRecord | null,
): FleetEvent {
  return {
    id: crypto.randomUUID(),
    type,
    time,
    hostId: instance?.hostId ?? null,
    instanceId: e.instanceId,
    previousState: type === "instance.event-completed" ? "scheduled" : null,
    state: type === "instance.event-completed" ? e.state : "scheduled",
    instance: instance ? withoutTags(instance) : null,
    host: null,
    hostRecord: null,
    subject: {
      kind: "instance-event",
      id: e.id,
      accountId: instance?.accountId ?? null,
      detail: { code: e.code },
    },
  };
}

export function eventView(e: EventRow) {
  return {
    instanceEventId: e.id,
    code: e.code as ScheduledEventCode,
    description: e.description,
    notBefore: new Date(e.notBefore).toISOString(),
    notAfter: new Date(e.notAfter).toISOString(),
    state: e.state,
    outcome: e.outcome,
    migrationId: e.migrationId,
  };
}

export async function scheduleEvent(
  fleet: Fleet,
  instanceId: string,
  input: { code: ScheduledEventCode; notBefore: string; notAfter?: string },
) {
  const row = await requireInstanceRow(fleet, instanceId);
  const notBefore = Date.parse(input.notBefore);
  if (Number.isNaN(notBefore)) throw invalidParameter("notBefore", "must be a date-time");
  const notAfter = input.notAfter === undefined ? notBefore + 7 * 86_400_000 : Date.parse(input.notAfter);
  if (Number.isNaN(notAfter) || notAfter < notBefore)
    throw invalidParameter("notAfter", "must be a date-time no earlier than notBefore");
  if (row.state === "terminated" || row.state === "shutting-down")
    throw new ApiError(409, "IncorrectInstanceState", `The instance '${instanceId}' is ${row.state}`, {
      instanceId,
      state: row.state,
    });
  const e: EventRow = {
    id: newId("instance-event"),
    accountId: row.accountId,
    instanceId,
    code: input.code,
    description: DESCRIPTIONS[input.code],
    notBefore,
    notAfter,
    state: "scheduled",
    outcome: null,
    migrationId: null,
    createdAt: await fleet.now(),
    actedAt: null,
  };
  await fleet.db.insert(scheduledEvents).values(e);
  const ev = fleetEvent("instance.event-scheduled", e, e.createdAt, rowToRecord(row));
  await mirrorApplied(fleet.db, [ev]);
  await fleet.publish([ev]);
  return eventView(e);
}

/** The instance's state and its scheduled events, as DescribeInstanceStatus shows them. */
export async function instanceStatus(fleet: Fleet, instanceId: string) {
  const row = await requireInstanceRow(fleet, instanceId);
  const evs = await fleet.db.select().from(scheduledEvents).where(eq(scheduledEvents.instanceId, instanceId));
  return {
    instanceId,
    instanceState: { code: row.stateCode, name: row.state },
    events: evs.sort((a, b) => a.notBefore - b.notBefore).map(eventView),
  };
}

/**
 * The scheduled events of each of these instances, soonest first, as DescribeInstanceStatus
 * lists them. The caller has already seen the instances (its own account's).
 */
export async function eventsOfInstances(fleet: Fleet, instanceIds: string[]) {
  const byInstance = new Map<string, ReturnType<typeof eventView>[]>();
  // D1 binds at most 100 parameters a statement.
  for (let i = 0; i < instanceIds.length; i += 90) {
    const chunk = instanceIds.slice(i, i + 90);
    const rows = await fleet.db
      .select()
      .from(scheduledEvents)
      .where(inArray(scheduledEvents.instanceId, chunk));
    for (const e of rows.sort((a, b) => a.notBefore - b.notBefore)) {
      const list = byInstance.get(e.instanceId) ?? [];
      list.push(eventView(e));
      byInstance.set(e.instanceId, list);
    }
  }
  return byInstance;
}

/** Acts on every event whose not-before has passed. Each is claimed first, so it acts once. */
export async function actOnDueEvents(fleet: Fleet): Promise<number> {
  const now = await fleet.now();
  const due = await fleet.db
    .select()
    .from(scheduledEvents)
    .where(and(eq(scheduledEvents.state, "scheduled"), lte(scheduledEvents.notBefore, now)))
    .limit(100);
  let acted = 0;
  for (const e of due) {
    const claimed = await fleet.db
      .update(scheduledEvents)
      .set({ state: "acting", actedAt: now })
      .where(and(eq(scheduledEvents.id, e.id), eq(scheduledEvents.state, "scheduled")))
      .returning();
    if (claimed.length === 0) continue;
    let acting: Acting;
    try {
      acting = await actOn(fleet, claimed[0]);
    } catch (err) {
      acting = { done: true, ok: false, outcome: err instanceof Error ? err.message : String(err) };
    }
    // A live migration under way finishes the event when it ends (afterMigration).
    if (acting.done) await finishEvent(fleet, e, acting.ok ? "completed" : "failed", acting.outcome, now);
    else
      await fleet.db
        .update(scheduledEvents)
        .set({ outcome: acting.outcome })
        .where(and(eq(scheduledEvents.id, e.id), eq(scheduledEvents.state, "acting")));
    acted++;
  }
  return acted;
}

type Acting = { done: true; ok: boolean; outcome: string } | { done: false; outcome: string };

/** Ends an acting event, once: false if it had already ended. */
async function finishEvent(
  fleet: Fleet,
  e: EventRow,
  state: "completed" | "failed",
  outcome: string,
  now: number,
): Promise<boolean> {
  const ended = await fleet.db
    .update(scheduledEvents)
    .set({ state, outcome: outcome.slice(0, 1024) })
    .where(and(eq(scheduledEvents.id, e.id), eq(scheduledEvents.state, "acting")))
    .returning({ id: scheduledEvents.id });
  if (ended.length === 0) return false;
  const inst = await fleet.db.select().from(instances).where(eq(instances.id, e.instanceId)).get();
  const ev = fleetEvent("instance.event-completed", { ...e, state }, now, inst ? rowToRecord(inst) : null);
  await mirrorApplied(fleet.db, [ev]);
  await fleet.publish([ev]);
  return true;
}

async function lifecycle(fleet: Fleet, id: string, action: InstanceAction): Promise<string> {
  const r = await act(fleet, id, action);
  return `${action}: ${r.previousState.name} -> ${r.currentState.name}`;
}

const fallbackOf = (code: ScheduledEventCode): InstanceAction =>
  code === "instance-retirement" ? "stop" : "reboot";

async function actOn(fleet: Fleet, e: EventRow): Promise<Acting> {
  const code = e.code as ScheduledEventCode;
  if (code === "instance-stop")
    return { done: true, ok: true, outcome: await lifecycle(fleet, e.instanceId, "stop") };
  if (code === "instance-reboot" || code === "system-reboot")
    return { done: true, ok: true, outcome: await lifecycle(fleet, e.instanceId, "reboot") };
  // Retirement and maintenance: live-migrate where it can. The migration's id is on the event before
  // the migration exists, so that whatever stops this request part way, reconcile finds which it was.
  const migrationId = newId("mig");
  await fleet.db
    .update(scheduledEvents)
    .set({ migrationId })
    .where(and(eq(scheduledEvents.id, e.id), eq(scheduledEvents.state, "acting")));
  try {
    await createMigration(fleet, e.instanceId, { mode: "precopy" }, null, migrationId);
    return { done: false, outcome: `live migration ${migrationId} under way` };
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    await fleet.db
      .update(scheduledEvents)
      .set({ migrationId: null })
      .where(and(eq(scheduledEvents.id, e.id), eq(scheduledEvents.migrationId, migrationId)));
    return {
      done: true,
      ok: true,
      outcome: `no live migration (${err.code}: ${err.message.slice(0, 200)}); ${await lifecycle(fleet, e.instanceId, fallbackOf(code))}`,
    };
  }
}

/**
 * Ends the event whose live migration ended (called by the migration's last step, and by reconcile).
 * Completed only if the instance left its host; otherwise the event fails, saying why, and the fleet
 * does what it does to an instance that cannot move: a retirement stops it (as EC2 stops an instance
 * on retired hardware), a maintenance reboots it.
 */
export async function afterMigration(fleet: Fleet, migrationId: string, status: string): Promise<void> {
  const e = await fleet.db
    .select()
    .from(scheduledEvents)
    .where(and(eq(scheduledEvents.migrationId, migrationId), eq(scheduledEvents.state, "acting")))
    .get();
  if (!e) return;
  const now = await fleet.now();
  if (status === "completed") {
    await finishEvent(
      fleet,
      e,
      "completed",
      `live migration ${migrationId} completed: the instance left its host`,
      now,
    );
    return;
  }
  const m = await fleet.db
    .select({ reason: migrations.reason })
    .from(migrations)
    .where(eq(migrations.id, migrationId))
    .get();
  let fallback: string;
  try {
    fallback = await lifecycle(fleet, e.instanceId, fallbackOf(e.code as ScheduledEventCode));
  } catch (err) {
    fallback = `the ${fallbackOf(e.code as ScheduledEventCode)} failed: ${err instanceof Error ? err.message : String(err)}`;
  }
  await finishEvent(
    fleet,
    e,
    "failed",
    `live migration ${migrationId} ${status}: ${m?.reason ?? "no reason recorded"}; ${fallback}`,
    now,
  );
}

/** How long (simulated) an event may be `acting` with nothing to show for it before reconcile takes it back. */
export const SCHEDULED_EVENT_LEASE_MS = 5 * 60_000;

/**
 * The scheduled events' part of the repair path. An event claimed (`acting`) whose finishing step was
 * lost would stay so forever: one whose migration ended is finished as that migration's last step
 * would have; one whose migration was never created, or that acted without one and never finished,
 * goes back to `scheduled` once its lease has passed, to act again (a stop that had already taken
 * effect is finished instead, so it does not fail on a stopped instance).
 */
export async function reclaimScheduledEvents(
  fleet: Fleet,
  repair: boolean,
): Promise<{ acting: number; reclaimed: number }> {
  const now = await fleet.now();
  const acting = await fleet.db
    .select()
    .from(scheduledEvents)
    .where(eq(scheduledEvents.state, "acting"))
    .limit(1000);
  let reclaimed = 0;
  for (const e of acting) {
    const m = e.migrationId
      ? await fleet.db
          .select({ step: migrations.step, status: migrations.status })
          .from(migrations)
          .where(eq(migrations.id, e.migrationId))
          .get()
      : undefined;
    if (m && m.step !== "done") continue; // its migration is under way (and reconcile resumes it)
    if (m) {
      if (repair) await afterMigration(fleet, e.migrationId!, m.status);
      reclaimed++;
      continue;
    }
    if ((e.actedAt ?? 0) > now - SCHEDULED_EVENT_LEASE_MS) continue;
    reclaimed++;
    if (!repair) continue;
    const inst = await fleet.db.select().from(instances).where(eq(instances.id, e.instanceId)).get();
    if (e.code === "instance-stop" && inst && (inst.state === "stopping" || inst.state === "stopped")) {
      await finishEvent(fleet, e, "completed", `the instance had stopped (${inst.state})`, now);
      continue;
    }
    await fleet.db
      .update(scheduledEvents)
      .set({ state: "scheduled", migrationId: null, actedAt: null })
      .where(and(eq(scheduledEvents.id, e.id), eq(scheduledEvents.state, "acting")));
  }
  return { acting: acting.length, reclaimed };
}
