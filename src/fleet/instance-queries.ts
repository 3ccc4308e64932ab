// Reading instances from the D1 inventory: one by id (settled by its host when a transition
// may have fallen due), and lists filtered by state, type, host, zone and tags; a tenant's
// reads see only its own account's instances.
import { and, asc, eq, gt, inArray, lt, ne, or, type SQL, sql } from "drizzle-orm";
import { instances, simClock } from "../db/schema";
import { type InstanceState, settlesTo, TERMINATED_VISIBLE_MS } from "../sim/lifecycle";
import { simNowSql } from "./clock";
import type { Fleet } from "./context";
import { instanceNotFound, invalidParameter } from "./errors";
import { type InstanceRow, tenancyOf } from "./instance-rows";
import { instanceView, rowView } from "./instance-view";
import { MAX_TAG_FILTERS, PAGE_MAX_BYTES } from "./limits";
import { mirrorApplied, upsertInstance } from "./mirror";
import { ownedBy } from "./ownership";
import { pageWithin } from "./paging";

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
    // The host's record is the truth, even when what settled it (its alarm, another call)
    // has not reached D1 yet; a newer one than D1's refreshes the row.
    const res = await fleet.host(row.hostId).settle(await fleet.clock(), id);
    const settled = res.result;
    const newer = settled && settled.version > row.version ? [upsertInstance(settled)] : [];
    await mirrorApplied(fleet.db, res.events, newer);
    if (settled && settled.version >= row.version) return instanceView(settled, tenancyOf(row));
  }
  return rowView(row);
}

export interface InstanceFilter {
  state?: InstanceState[];
  instanceType?: string;
  hostId?: string;
  availabilityZone?: string;
  tags: [string, string | null][];
  /** Any of these, as EC2's filters take several values each (the EC2 Query API's). */
  anyOf?: {
    instanceId?: string[];
    reservationId?: string[];
    instanceType?: string[];
    availabilityZone?: string[];
    hostId?: string[];
    clientToken?: string[];
    hypervisor?: string[];
    virtualizationType?: string[];
    /** A tag whose key is this and whose value is any of these. */
    tagValues?: [string, string[]][];
    /** A tag with any of these keys; a tag with any of these values. */
    tagKey?: string[];
    tagValue?: string[];
  };
  cursor?: string;
  limit: number;
}

const ANY_OF_COLUMNS = {
  instanceId: instances.id,
  reservationId: instances.reservationId,
  instanceType: instances.instanceType,
  availabilityZone: instances.zone,
  hostId: instances.hostId,
  clientToken: instances.clientToken,
  hypervisor: instances.hypervisor,
  virtualizationType: instances.virtualizationType,
} as const;

/**
 * Each filter of `anyOf` as a clause: any of its values matches, and every filter must. A
 * filter's values are one bound parameter, a JSON array, so that many values stay within
 * D1's 100 parameters a statement.
 */
function anyOfClauses(anyOf: NonNullable<InstanceFilter["anyOf"]>): SQL[] {
  const out: SQL[] = [];
  const inJson = (values: string[]) => sql`SELECT value FROM json_each(${JSON.stringify(values)})`;
  for (const [name, column] of Object.entries(ANY_OF_COLUMNS)) {
    const values = anyOf[name as keyof typeof ANY_OF_COLUMNS];
    if (values) out.push(sql`${column} IN (${inJson(values)})`);
  }
  for (const [key, values] of anyOf.tagValues ?? []) {
    out.push(
      sql`EXISTS (SELECT 1 FROM json_each(${instances.tags}) WHERE json_each.key = ${key} AND json_each.value IN (${inJson(values)}))`,
    );
  }
  if (anyOf.tagKey?.length) {
    out.push(
      sql`EXISTS (SELECT 1 FROM json_each(${instances.tags}) WHERE json_each.key IN (${inJson(anyOf.tagKey)}))`,
    );
  }
  if (anyOf.tagValue?.length) {
    out.push(
      sql`EXISTS (SELECT 1 FROM json_each(${instances.tags}) WHERE json_each.value IN (${inJson(anyOf.tagValue)}))`,
    );
  }
  return out;
}

export async function listInstances(fleet: Fleet, f: InstanceFilter) {
  if (f.tags.length > MAX_TAG_FILTERS)
    throw invalidParameter("query.tag", `at most ${MAX_TAG_FILTERS} tag filters`);
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
  if (f.anyOf) where.push(...anyOfClauses(f.anyOf));
  if (f.cursor) where.push(gt(instances.id, f.cursor));
  // The page's ids and sizes first, each row's offset in the page by a running sum, and
  // only the rows that start within the byte budget are read whole: a page of the largest
  // instances never reads 1,000 of them.
  const ids = fleet.db
    .select({ id: instances.id, bytes: sql<number>`${ROW_BYTES}`.as("bytes") })
    .from(instances)
    .where(and(...where))
    .orderBy(asc(instances.id))
    .limit(f.limit + 1)
    .as("ids");
  const sized = fleet.db
    .select({
      id: ids.id,
      bytes: ids.bytes,
      pageEnd: sql<number>`sum(${ids.bytes}) OVER (ORDER BY ${ids.id})`.as("page_end"),
      found: sql<number>`count(*) OVER ()`.as("found"),
    })
    .from(ids)
    .as("sized");
  const rows = await fleet.db
    .select({ row: instances, bytes: sized.bytes, found: sized.found })
    .from(sized)
    .innerJoin(instances, eq(instances.id, sized.id))
    .where(lt(sql`${sized.pageEnd} - ${sized.bytes}`, PAGE_MAX_BYTES))
    .orderBy(asc(sized.id));
  const found = rows.length > 0 ? rows[0].found : 0;
  const { page, nextCursor } = pageWithin(rows, found, f.limit, PAGE_MAX_BYTES, (r) => r.id);
  return { instances: page.map(rowView), nextCursor };
}

/**
 * What a row adds to a page's bytes: its text columns as stored (tags the largest; JSON in
 * D1 as in the answer), and the rest of its view, names and numbers, at a fixed allowance.
 */
const VIEW_BYTES = 600;
const ROW_BYTES = sql
  .join(
    [
      instances.tags,
      instances.workload,
      instances.paging,
      instances.threads,
      instances.zone,
      instances.stateReason,
      instances.clientToken,
    ].map((c) => sql`coalesce(length(CAST(${c} AS BLOB)), 0)`),
    sql` + `,
  )
  .append(sql` + ${sql.raw(String(VIEW_BYTES))}`);
