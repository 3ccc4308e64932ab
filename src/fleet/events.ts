// Reading the fleet's event log that the queue consumer (and the request path) keep in D1:
// a tenant reads the events about its own resources, the admin every event. A page of the
// log, one event as receivers get it (events/envelope.ts), and the log after a point, which
// the SSE stream follows.
import { and, asc, desc, eq, getTableColumns, gt, gte, lt, or, type SQL } from "drizzle-orm";
import { events } from "../db/schema";
import { envelopeOf } from "../events/envelope";
import type { Fleet } from "./context";
import { ApiError } from "./errors";
import { ownedBy } from "./ownership";
import { pageOf } from "./paging";

export interface EventFilter {
  instanceId?: string;
  hostId?: string;
  /** An instance, host, alarm or subscription the event is about. */
  resourceId?: string;
  type?: string;
  /** Simulated time, from (inclusive) and to (exclusive), in ms. */
  startTime?: number;
  endTime?: number;
  cursor?: number;
  limit: number;
}

function conditions(fleet: Fleet, f: Omit<EventFilter, "limit">): (SQL | undefined)[] {
  const where: (SQL | undefined)[] = [ownedBy(fleet.caller, events.accountId)];
  if (f.instanceId) where.push(eq(events.instanceId, f.instanceId));
  if (f.hostId) where.push(eq(events.hostId, f.hostId));
  if (f.resourceId) {
    where.push(
      or(
        eq(events.instanceId, f.resourceId),
        eq(events.hostId, f.resourceId),
        eq(events.resourceId, f.resourceId),
      ),
    );
  }
  if (f.type) where.push(eq(events.type, f.type));
  if (f.startTime !== undefined) where.push(gte(events.time, f.startTime));
  if (f.endTime !== undefined) where.push(lt(events.time, f.endTime));
  if (f.cursor !== undefined) where.push(gt(events.seq, f.cursor));
  return where;
}

export async function listEvents(fleet: Fleet, f: EventFilter) {
  // The body (the whole event, its instance's tags included) is not part of the list, nor
  // the account, which only scopes it.
  const { body: _body, accountId: _account, ...listed } = getTableColumns(events);
  const rows = await fleet.db
    .select(listed)
    .from(events)
    .where(and(...conditions(fleet, f)))
    .orderBy(asc(events.seq))
    .limit(f.limit + 1);
  const { page, nextCursor } = pageOf(rows, f.limit, (r) => r.seq);
  return {
    events: page.map(({ time, wallTime, ...e }) => ({
      ...e,
      time: new Date(time).toISOString(),
      wallTime: wallTime === null ? null : new Date(wallTime).toISOString(),
    })),
    nextCursor,
  };
}

/** The events after `afterSeq` that match, as envelopes, oldest first. */
export async function eventsAfter(fleet: Fleet, afterSeq: number, f: Omit<EventFilter, "cursor">) {
  const rows = await fleet.db
    .select()
    .from(events)
    .where(and(...conditions(fleet, { ...f, cursor: afterSeq })))
    .orderBy(asc(events.seq))
    .limit(f.limit);
  return rows.map(envelopeOf);
}

/** The newest event's seq the caller may see (0 when none): where a stream without Last-Event-ID starts. */
export async function lastSeq(fleet: Fleet): Promise<number> {
  const [row] = await fleet.db
    .select({ seq: events.seq })
    .from(events)
    .where(and(ownedBy(fleet.caller, events.accountId)))
    .orderBy(desc(events.seq))
    .limit(1);
  return row?.seq ?? 0;
}

export async function getEvent(fleet: Fleet, id: string) {
  const [row] = await fleet.db
    .select()
    .from(events)
    .where(and(eq(events.id, id), ownedBy(fleet.caller, events.accountId)));
  if (!row)
    throw new ApiError(404, "InvalidEventID.NotFound", `The event ID '${id}' does not exist`, {
      eventId: id,
    });
  return envelopeOf(row);
}
