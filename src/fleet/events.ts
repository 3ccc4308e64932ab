// Reading the fleet's event log that the queue consumer (and the request path) keep in D1:
// a tenant reads the events about its own instances, the admin every event.
import { and, asc, eq, getTableColumns, gt, type SQL } from "drizzle-orm";
import { events } from "../db/schema";
import type { Fleet } from "./context";
import { ownedBy } from "./ownership";
import { pageOf } from "./paging";

export interface EventFilter {
  instanceId?: string;
  hostId?: string;
  type?: string;
  cursor?: number;
  limit: number;
}

export async function listEvents(fleet: Fleet, f: EventFilter) {
  const where: (SQL | undefined)[] = [ownedBy(fleet.caller, events.accountId)];
  if (f.instanceId) where.push(eq(events.instanceId, f.instanceId));
  if (f.hostId) where.push(eq(events.hostId, f.hostId));
  if (f.type) where.push(eq(events.type, f.type));
  if (f.cursor !== undefined) where.push(gt(events.seq, f.cursor));
  // The body (the whole event, its instance's tags included) is not part of the list, nor
  // the account, which only scopes it.
  const { body: _body, accountId: _account, ...listed } = getTableColumns(events);
  const rows = await fleet.db
    .select(listed)
    .from(events)
    .where(and(...where))
    .orderBy(asc(events.seq))
    .limit(f.limit + 1);
  const { page, nextCursor } = pageOf(rows, f.limit, (r) => r.seq);
  return {
    events: page.map(({ time, ...e }) => ({ ...e, time: new Date(time).toISOString() })),
    nextCursor,
  };
}
