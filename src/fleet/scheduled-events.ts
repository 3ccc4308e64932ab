// Scheduled events on instances, as EC2 has them: the operator schedules one with a window
// (not-before, not-after); it shows on the instance (DescribeInstanceStatus) and is a fleet event;
// once the clock passes not-before the fleet acts. A retirement or a system maintenance live-migrates
// the instance where it can; where it cannot (instance store, no room), a retirement stops it and a
// maintenance reboots it. Reboot and stop events reboot and stop.
import { and, eq, inArray, lte } from "drizzle-orm";
import { instances, scheduledEvents } from "../db/schema";
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
    let outcome: string;
    let migrationId: string | null = null;
    let ok = true;
    try {
      ({ outcome, migrationId } = await actOn(fleet, e));
    } catch (err) {
      ok = false;
      outcome = err instanceof Error ? err.message.slice(0, 512) : String(err);
    }
    await finishEvent(fleet, e, ok ? "completed" : "failed", outcome, migrationId, now);
    acted++;
  }
  return acted;
}

async function finishEvent(
  fleet: Fleet,
  e: EventRow,
  state: "completed" | "failed",
  outcome: string,
  migrationId: string | null,
  now: number,
) {
  await fleet.db
    .update(scheduledEvents)
    .set({ state, outcome, migrationId })
    .where(eq(scheduledEvents.id, e.id));
  const inst = await fleet.db.select().from(instances).where(eq(instances.id, e.instanceId)).get();
  const ev = fleetEvent("instance.event-completed", { ...e, state }, now, inst ? rowToRecord(inst) : null);
  await mirrorApplied(fleet.db, [ev]);
  await fleet.publish([ev]);
}

async function lifecycle(fleet: Fleet, id: string, action: InstanceAction): Promise<string> {
  const r = await act(fleet, id, action);
  return `${action}: ${r.previousState.name} -> ${r.currentState.name}`;
}

async function actOn(fleet: Fleet, e: EventRow): Promise<{ outcome: string; migrationId: string | null }> {
  const code = e.code as ScheduledEventCode;
  if (code === "instance-stop")
    return { outcome: await lifecycle(fleet, e.instanceId, "stop"), migrationId: null };
  if (code === "instance-reboot" || code === "system-reboot")
    return { outcome: await lifecycle(fleet, e.instanceId, "reboot"), migrationId: null };
  // Retirement and maintenance: live-migrate where it can.
  try {
    const m = await createMigration(fleet, e.instanceId, { mode: "precopy" });
    return { outcome: `live migration ${m.id} started`, migrationId: m.id };
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    const fallback: InstanceAction = code === "instance-retirement" ? "stop" : "reboot";
    return {
      outcome: `no live migration (${err.code}: ${err.message.slice(0, 200)}); ${await lifecycle(fleet, e.instanceId, fallback)}`,
      migrationId: null,
    };
  }
}

/**
 * A retirement whose migration ended without moving the instance: the fleet stops it, as EC2
 * stops an instance on retired hardware. Called by the migration's release step.
 */
export async function afterMigration(fleet: Fleet, migrationId: string, status: string): Promise<void> {
  if (status === "completed") return;
  const e = await fleet.db
    .select()
    .from(scheduledEvents)
    .where(eq(scheduledEvents.migrationId, migrationId))
    .get();
  if (e?.code !== "instance-retirement" || e.outcome?.includes("stop:")) return;
  let outcome: string;
  try {
    outcome = `${e.outcome}; it ${status}; ${await lifecycle(fleet, e.instanceId, "stop")}`;
  } catch (err) {
    outcome = `${e.outcome}; it ${status}; the stop failed: ${err instanceof Error ? err.message : String(err)}`;
  }
  await fleet.db
    .update(scheduledEvents)
    .set({ outcome: outcome.slice(0, 1024) })
    .where(eq(scheduledEvents.id, e.id));
}
