// Reading instances from the D1 inventory: one by id (settled by its host when a transition
// may have fallen due), and lists filtered by state, type, host, zone and tags; a tenant's
// reads see only its own account's instances.
import { and, asc, eq, gt, inArray, ne, or, type SQL, sql } from "drizzle-orm";
import { instances, simClock } from "../db/schema";
import { type InstanceState, settlesTo, TERMINATED_VISIBLE_MS } from "../sim/lifecycle";
import { simNowSql } from "./clock";
import type { Fleet } from "./context";
import { instanceNotFound } from "./errors";
import { type InstanceRow, rowToRecord } from "./instance-rows";
import { instanceView } from "./instance-view";
import { latestRecords, mirror } from "./mirror";
import { ownedBy } from "./ownership";
import { pageOf } from "./paging";

/**
 * Terminated instances stay visible for an hour of simulated time. The simulated time is
 * read inside the query (sim/clock.ts simNow, in SQL), so a read is one D1 round trip.
 */
function visible(wallMs: number): SQL {
  const now = sql`(SELECT ${simNowSql(wallMs)} FROM ${simClock} WHERE ${simClock.id} = 1)`;
  return or(
    ne(instances.state, "terminated"),
    sql`${instances.terminatedAt} > ${now} - ${TERMINATED_VISIBLE_MS}`,
  )!;
}

/** The row of a visible instance of the caller's, or InvalidInstanceID.NotFound. */
export async function requireInstanceRow(fleet: Fleet, id: string): Promise<InstanceRow> {
  const row = await fleet.db
    .select()
    .from(instances)
    .where(and(eq(instances.id, id), visible(Date.now()), ownedBy(fleet.caller, instances.accountId)))
    .get();
  if (!row) throw instanceNotFound(id);
  return row;
}

export async function describeInstance(fleet: Fleet, id: string) {
  const row = await requireInstanceRow(fleet, id);
  // A transition may have fallen due since D1 last heard: ask the host to settle it.
  if (row.hostId && settlesTo(row.state as InstanceState)) {
    const res = await fleet.host(row.hostId).settle(await fleet.clock());
    await mirror(fleet.db, res.events);
    const settled = latestRecords(res.events).find((r) => r.instanceId === id);
    if (settled) return instanceView(settled);
  }
  return instanceView(rowToRecord(row));
}

export interface InstanceFilter {
  state?: InstanceState[];
  instanceType?: string;
  hostId?: string;
  availabilityZone?: string;
  tags: [string, string | null][];
  cursor?: string;
  limit: number;
}

export async function listInstances(fleet: Fleet, f: InstanceFilter) {
  const where: (SQL | undefined)[] = [visible(Date.now()), ownedBy(fleet.caller, instances.accountId)];
  if (f.state?.length) where.push(inArray(instances.state, f.state));
  if (f.instanceType) where.push(eq(instances.instanceType, f.instanceType));
  if (f.hostId) where.push(eq(instances.hostId, f.hostId));
  if (f.availabilityZone) where.push(eq(instances.zone, f.availabilityZone));
  for (const [key, value] of f.tags) {
    // json_each compares keys as values, so any character in a tag key is safe.
    where.push(
      value === null
        ? sql`EXISTS (SELECT 1 FROM json_each(${instances.tags}) WHERE json_each.key = ${key})`
        : sql`EXISTS (SELECT 1 FROM json_each(${instances.tags}) WHERE json_each.key = ${key} AND json_each.value = ${value})`,
    );
  }
  if (f.cursor) where.push(gt(instances.id, f.cursor));
  const rows = await fleet.db
    .select()
    .from(instances)
    .where(and(...where))
    .orderBy(asc(instances.id))
    .limit(f.limit + 1);
  const { page, nextCursor } = pageOf(rows, f.limit, (r) => r.id);
  return { instances: page.map((r) => instanceView(rowToRecord(r))), nextCursor };
}
