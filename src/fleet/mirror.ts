// Applies host events to the D1 inventory. Used on the request path and by the queue
// consumer alike: every statement is idempotent (events by id, rows by version), so
// applying an event twice, or late, or out of order never moves a row backwards.
import { getTableColumns, inArray } from "drizzle-orm";
import type { Db } from "../db/client";
import { events, hosts, instances, networkEvents, networkInterfaces } from "../db/schema";
import type { ActResult } from "../sim/host";
import {
  type EventInstance,
  type FleetEvent,
  type HostRecord,
  type HostUsage,
  type InstanceRecord,
  withoutTags,
} from "../sim/records";
import { releaseTerminated } from "./enis-release";
import { recordToRow } from "./instance-rows";
import { storageNodeStatements } from "./storage-events";
import { forgetAddresses } from "./subnet-addresses";

/** A statement of the mirror, as D1 runs it: SQL text and its bound values. */
export interface Statement {
  sql: string;
  params: unknown[];
}

/**
 * Rows go to D1 many to a statement: one bound parameter holds their JSON, and the
 * statement takes them apart with json_each. A launch of 100 instances is a few statements
 * instead of 100 upserts of 25 parameters each, which D1 parses and binds one by one. A
 * statement's JSON stays under 90 KB, below D1's 100 KB statement length should it count
 * the parameters too; a record larger than that goes alone.
 */
const BULK_BYTES = 90 * 1024;

/** Groups JSON texts into arrays of at most BULK_BYTES (a larger text goes alone). */
export function jsonArrays(texts: readonly string[]): string[] {
  const out: string[] = [];
  let part: string[] = [];
  let bytes = 0;
  for (const t of texts) {
    if (part.length > 0 && bytes + t.length + 1 > BULK_BYTES) {
      out.push(`[${part.join(",")}]`);
      part = [];
      bytes = 0;
    }
    part.push(t);
    bytes += t.length + 1;
  }
  if (part.length > 0) out.push(`[${part.join(",")}]`);
  return out;
}

/**
 * `INSERT INTO table (columns) SELECT ... FROM json_each(?)`, each column taken from the
 * JSON object's property of the same name as the table's column key. `WHERE true` tells
 * SQLite's parser that the ON CONFLICT clause after it belongs to the INSERT.
 */
export function insertFromJson(
  table: Parameters<typeof getTableColumns>[0],
  name: string,
  skip: string[] = [],
  override: Record<string, string> = {},
) {
  const columns = Object.entries(getTableColumns(table)).filter(([key]) => !skip.includes(key));
  const names = columns.map(([, c]) => `"${c.name}"`);
  const values = columns.map(([key]) => override[key] ?? `json_extract(j.value, '$.${key}')`);
  return {
    sql: `INSERT INTO "${name}" (${names.join(", ")}) SELECT ${values.join(", ")} FROM json_each(?) AS j WHERE true`,
    /** `col = excluded.col` for every column but the key. */
    updates: names
      .filter((n) => n !== '"id"')
      .map((n) => `${n} = excluded.${n}`)
      .join(", "),
  };
}

// An event's record after the instance's first leaves its tags out (sim/records.ts
// EventInstance): the row keeps the tags it has. A row that does not exist yet needs them,
// so such a record fails (NOT NULL) until the instance's first event has been applied.
// A launch's tenancy and host affinity are written once, by the launch (launch.ts), and no record
// carries them: the mirror leaves them as they are.
const INSTANCES = insertFromJson(instances, "instances", ["tenancy", "hostAffinity"], {
  tags: `COALESCE(json_extract(j.value, '$.tags'), (SELECT "tags" FROM "instances" WHERE "id" = json_extract(j.value, '$.id')))`,
});
export const UPSERT_INSTANCES = `${INSTANCES.sql} ON CONFLICT ("id") DO UPDATE SET ${INSTANCES.updates} WHERE excluded."version" > "instances"."version"`;
// A repair (the host object's record, read by reconcile) also overwrites a row of the
// same version, since the object is the truth for that version.
const REPAIR_INSTANCES = `${INSTANCES.sql} ON CONFLICT ("id") DO UPDATE SET ${INSTANCES.updates} WHERE excluded."version" >= "instances"."version"`;
export const INSERT_EVENTS = `${insertFromJson(events, "events", ["seq"]).sql} ORDER BY j.key ON CONFLICT ("id") DO NOTHING`;

/** A launch's interfaces and their attachment events (enis.ts makes the rows). */
export const INSERT_INTERFACES = insertFromJson(networkInterfaces, "network_interfaces").sql;
export const INSERT_ATTACHED = `${insertFromJson(networkEvents, "network_events", ["seq"]).sql} ORDER BY j.key`;

/** A record's row as JSON; without tags when the record has none (an event's, after the first). */
function rowJson(r: EventInstance): string {
  if (r.tags !== undefined) return JSON.stringify(recordToRow(r as InstanceRecord));
  const { tags: _tags, ...row } = recordToRow({ ...r, tags: {} });
  return JSON.stringify(row);
}

/** Newer versions win; a repair wins at the same version too. */
export function upsertInstances(records: readonly EventInstance[], repair = false): Statement[] {
  const text = repair ? REPAIR_INSTANCES : UPSERT_INSTANCES;
  return jsonArrays(records.map(rowJson)).map((rows) => ({
    sql: text,
    params: [rows],
  }));
}

export function upsertInstance(i: EventInstance, repair = false): Statement {
  return upsertInstances([i], repair)[0];
}

/**
 * The event log, once per event id; its rows keep the order of `evs`. The log keeps each
 * event without its instance's tags, even the first: the instance's row holds them, and the
 * log of a tagged launch would otherwise hold every instance's tags once more.
 */
function insertEvents(evs: readonly FleetEvent[]): Statement[] {
  const rows = evs.map((e) =>
    JSON.stringify({
      id: e.id,
      accountId: eventAccount(e),
      type: e.type,
      time: e.time,
      hostId: e.hostId,
      instanceId: e.instanceId,
      state: e.state,
      previousState: e.previousState,
      body: JSON.stringify(e.instance?.tags ? { ...e, instance: withoutTags(e.instance) } : e),
      wallTime: Date.now(),
      resourceId: e.subject?.id ?? null,
    }),
  );
  return jsonArrays(rows).map((json) => ({ sql: INSERT_EVENTS, params: [json] }));
}

function usageColumns(u: HostUsage) {
  const c = u.capacity;
  return {
    state: u.state,
    usedVcpus: c.vcpus.used,
    freeVcpus: c.vcpus.free,
    usedMemoryMiB: c.memoryMiB.used,
    freeMemoryMiB: c.memoryMiB.free,
    usedNvmeGB: c.nvmeGB.used,
    freeNvmeGB: c.nvmeGB.free,
    vmCount: c.vms,
    usageVersion: u.version,
  };
}

// A host's row comes with its host.created event; every later event carries only its use,
// which replaces the row's only where it is newer (or, for a repair, as new).
const HOSTS = insertFromJson(hosts, "hosts");
const USAGE_COLUMNS = Object.keys(
  usageColumns({ version: 0, state: "available", capacity: emptyCapacity() }),
);
const hostColumn = (key: string) => getTableColumns(hosts)[key as keyof typeof hosts._.columns].name;
const UPSERT_HOSTS = `${HOSTS.sql} ON CONFLICT ("id") DO UPDATE SET ${USAGE_COLUMNS.map((k) => `"${hostColumn(k)}" = excluded."${hostColumn(k)}"`).join(", ")} WHERE excluded."usage_version" > "hosts"."usage_version"`;
const updateUsages = (op: "<" | "<=") =>
  `UPDATE "hosts" SET ${USAGE_COLUMNS.map((k) => `"${hostColumn(k)}" = json_extract(j.value, '$.${k}')`).join(", ")} FROM json_each(?) AS j WHERE "hosts"."id" = json_extract(j.value, '$.id') AND "hosts"."usage_version" ${op} json_extract(j.value, '$.usageVersion')`;
export const UPDATE_USAGE = updateUsages("<");
const REPAIR_USAGE = updateUsages("<=");

function emptyCapacity(): HostUsage["capacity"] {
  const n = { total: 0, reserved: 0, used: 0, free: 0 };
  return { vcpus: n, memoryMiB: n, nvmeGB: { total: 0, used: 0, free: 0 }, vms: 0 };
}

/** New hosts' rows, many to a statement (a fleet operator adds them by the thousand). */
export function upsertHosts(list: readonly { h: HostRecord; u: HostUsage }[]): Statement[] {
  const rows = list.map(({ h, u }) =>
    JSON.stringify({
      id: h.hostId,
      zone: h.zone,
      rack: h.rack,
      family: h.family,
      hypervisor: h.hypervisor,
      sockets: h.hw.sockets,
      coresPerSocket: h.hw.coresPerSocket,
      threadsPerCore: h.hw.threadsPerCore,
      memoryMiB: h.hw.memoryMiB,
      reservedThreads: h.hw.reservedThreads,
      reservedMemoryMiB: h.hw.reservedMemoryMiB,
      nvmeGB: h.hw.nvmeGB,
      createdAt: h.createdAt,
      ...usageColumns(u),
    }),
  );
  return jsonArrays(rows).map((json) => ({ sql: UPSERT_HOSTS, params: [json] }));
}

export function upsertHost(_db: Db, h: HostRecord, u: HostUsage): Statement {
  return upsertHosts([{ h, u }])[0];
}

/** Hosts' use, many to a statement; each row only where the use is newer (or as new, for a repair). */
export function updateHostUsages(list: readonly [string, HostUsage][], repair = false): Statement[] {
  const rows = list.map(([id, u]) => JSON.stringify({ id, ...usageColumns(u) }));
  return jsonArrays(rows).map((json) => ({ sql: repair ? REPAIR_USAGE : UPDATE_USAGE, params: [json] }));
}

export function updateHostUsage(_db: Db, hostId: string, u: HostUsage, repair = false): Statement {
  return updateHostUsages([[hostId, u]], repair)[0];
}

export function mirrorStatements(_db: Db, evs: readonly FleetEvent[]): Statement[] {
  const out: Statement[] = insertEvents(evs);
  // One row per instance, its newest record; one per host, of its newest use: a launch
  // of many instances is many events.
  const latest = latestRecords(evs);
  out.push(...upsertInstances(latest));
  // A terminated instance's interface goes with it, its address free again (enis-release.ts).
  out.push(...releaseTerminated(latest.filter((r) => r.state === "terminated").map((r) => r.instanceId)));
  const created: { h: HostRecord; u: HostUsage }[] = [];
  for (const e of evs) if (e.hostRecord && e.host) created.push({ h: e.hostRecord, u: e.host });
  out.push(...upsertHosts(created));
  const newest = new Map<string, HostUsage>();
  for (const e of evs) {
    if (!e.hostId || !e.host || e.hostRecord) continue;
    const seen = newest.get(e.hostId);
    if (!seen || seen.version < e.host.version) newest.set(e.hostId, e.host);
  }
  out.push(...updateHostUsages([...newest]));
  out.push(...storageNodeStatements(evs));
  return out;
}

/**
 * Applies `evs` (and `extra`) in one D1 batch, which is one transaction: an event in the
 * log means its rows were applied with it. Rows go many to a statement, so even a launch
 * of the most instances with the largest tags is a few dozen statements.
 */
export async function mirror(db: Db, evs: readonly FleetEvent[], extra: Statement[] = []): Promise<void> {
  const stmts = foldLaunch([...mirrorStatements(db, evs), ...extra]);
  if (stmts.length === 0) return;
  const d1 = db.$client;
  await d1.batch(stmts.map((s) => d1.prepare(s.sql).bind(...s.params)));
  // A terminated instance's address is free now: this isolate's view of its subnet is stale.
  if (evs.some((e) => e.instance?.state === "terminated")) forgetAddresses(d1);
}

/**
 * The statements of a launch's mirror, in the order a batch runs them, by the column of the
 * view `launch_mirror` (migration 0019) whose trigger runs each over that column's JSON.
 */
export const LAUNCH_MIRROR: readonly (readonly [column: string, sql: string])[] = [
  ["events", INSERT_EVENTS],
  ["instances", UPSERT_INSTANCES],
  ["usages", UPDATE_USAGE],
  ["interfaces", INSERT_INTERFACES],
  ["network_events", INSERT_ATTACHED],
];
const launchColumn = new Map(LAUNCH_MIRROR.map(([column, sql], i) => [sql, { column, i }]));
const INSERT_LAUNCH_MIRROR = `INSERT INTO "launch_mirror" (${LAUNCH_MIRROR.map(([c]) => `"${c}"`).join(", ")}) VALUES (${LAUNCH_MIRROR.map(() => "?").join(", ")})`;

/**
 * A batch of a launch's shape (each of LAUNCH_MIRROR's statements at most once, in its order,
 * and nothing else: a launch's mirror, or a state change's events, rows and use) as the one
 * insert into `launch_mirror` that runs them all: local D1 runs each statement of a batch with
 * reads of its own around it. Its JSON together stays under BULK_BYTES, as one statement's
 * does. Any other batch as it is.
 */
export function foldLaunch(stmts: Statement[]): Statement[] {
  if (stmts.length < 2) return stmts;
  const params: (string | null)[] = LAUNCH_MIRROR.map(() => null);
  let last = -1;
  let bytes = 0;
  for (const s of stmts) {
    const at = launchColumn.get(s.sql);
    const json = s.params[0];
    if (!at || at.i <= last || s.params.length !== 1 || typeof json !== "string") return stmts;
    bytes += json.length;
    if (bytes > BULK_BYTES) return stmts;
    params[at.i] = json;
    last = at.i;
  }
  return [{ sql: INSERT_LAUNCH_MIRROR, params }];
}

/** Ids in one `IN (...)` list, well under D1's 100 bound parameters per statement. */
export const IN_LIST = 90;

/**
 * Mirrors the events of `evs` that the log does not have yet. The queue brings every event
 * again after the request that made it mirrored it; since a logged event's rows were
 * applied with it (one transaction), such a redelivery costs a read of the log's ids, not
 * a rewrite of rows.
 */
export async function mirrorNew(db: Db, evs: readonly FleetEvent[]): Promise<void> {
  const known = new Set<string>();
  const ids = [...new Set(evs.map((e) => e.id))];
  for (let at = 0; at < ids.length; at += IN_LIST) {
    const part = await db
      .select({ id: events.id })
      .from(events)
      .where(inArray(events.id, ids.slice(at, at + IN_LIST)));
    for (const r of part) known.add(r.id);
  }
  await mirror(
    db,
    evs.filter((e) => !known.has(e.id)),
  );
}

/** The account an event is logged under (the log's `account_id`, as insertEvents writes it). */
export function eventAccount(e: FleetEvent): string | null {
  return e.instance?.accountId ?? e.subject?.accountId ?? null;
}

/**
 * Mirrors the events of a change that is already made: a host object stored it with its
 * events in its outbox, or D1's own conditional write made it. The change stands whatever
 * D1 says now, so a failed write here is logged, not thrown, and the request answers with
 * what it applied; the outbox's delivery through the queue (or reconcile) brings D1 in line.
 */
export async function mirrorApplied(
  db: Db,
  evs: readonly FleetEvent[],
  extra: Statement[] = [],
): Promise<void> {
  try {
    await mirror(db, evs, extra);
  } catch (err) {
    console.warn("mirroring an applied change to D1 failed; the events queue will apply it", err);
  }
}

/**
 * Mirrors a host's answer about one instance. When the host says the instance left it,
 * its last record there refreshes D1, so the caller's next read sees where it went.
 */
export async function mirrorAnswer(
  db: Db,
  res: { result: ActResult; events: readonly FleetEvent[] },
): Promise<ActResult> {
  const r = res.result;
  const extra = r.status === "not-here" && r.departed ? [upsertInstance(r.departed)] : [];
  await mirrorApplied(db, res.events, extra);
  return r;
}

/**
 * The newest record of each instance among `events`: what mirroring them leaves in D1. An
 * instance's tags come with its first event only, so a newer record takes them from an
 * older one here if it has none, and the row can be written even when it is new.
 */
export function latestRecords(events: readonly FleetEvent[]): EventInstance[] {
  const latest = new Map<string, EventInstance>();
  for (const e of events) {
    const i = e.instance;
    if (!i) continue;
    const prev = latest.get(i.instanceId);
    const newest = !prev || prev.version < i.version ? i : prev;
    const tags = newest.tags ?? prev?.tags ?? i.tags;
    latest.set(i.instanceId, tags === undefined ? newest : { ...newest, tags });
  }
  return [...latest.values()];
}
