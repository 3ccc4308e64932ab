// Applies host events to the D1 inventory. Used on the request path and by the queue
// consumer alike: every statement is idempotent (events by id, rows by version), so
// applying an event twice, or late, or out of order never moves a row backwards.
import { sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/client";
import { events, hosts, instances } from "../db/schema";
import type { ActResult } from "../sim/host";
import type { FleetEvent, HostRecord, HostUsage, InstanceRecord } from "../sim/records";
import { recordToRow } from "./instance-rows";

/**
 * Newer versions win. A repair (the host object's record, read by reconcile) also
 * overwrites a row of the same version, since the object is the truth for that version.
 */
export function upsertInstance(db: Db, i: InstanceRecord, repair = false): BatchItem<"sqlite"> {
  const row = recordToRow(i);
  const { id: _id, ...set } = row;
  const newer = repair
    ? sql`excluded.version >= ${instances.version}`
    : sql`excluded.version > ${instances.version}`;
  return db.insert(instances).values(row).onConflictDoUpdate({ target: instances.id, set, setWhere: newer });
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

export function upsertHost(db: Db, h: HostRecord, u: HostUsage): BatchItem<"sqlite"> {
  const usage = usageColumns(u);
  return db
    .insert(hosts)
    .values({
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
      ...usage,
    })
    .onConflictDoUpdate({
      target: hosts.id,
      set: usage,
      setWhere: sql`excluded.usage_version > ${hosts.usageVersion}`,
    });
}

export function updateHostUsage(db: Db, hostId: string, u: HostUsage, repair = false): BatchItem<"sqlite"> {
  const older = repair
    ? sql`${hosts.usageVersion} <= ${u.version}`
    : sql`${hosts.usageVersion} < ${u.version}`;
  return db.update(hosts).set(usageColumns(u)).where(sql`${hosts.id} = ${hostId} AND ${older}`);
}

export function mirrorStatements(db: Db, evs: readonly FleetEvent[]): BatchItem<"sqlite">[] {
  const out: BatchItem<"sqlite">[] = [];
  for (const e of evs) {
    out.push(
      db
        .insert(events)
        .values({
          id: e.id,
          accountId: e.instance?.accountId ?? null,
          type: e.type,
          time: e.time,
          hostId: e.hostId,
          instanceId: e.instanceId,
          state: e.state,
          previousState: e.previousState,
          body: JSON.stringify(e),
        })
        .onConflictDoNothing({ target: events.id }),
    );
    if (e.instance) out.push(upsertInstance(db, e.instance));
    if (e.hostRecord && e.host) out.push(upsertHost(db, e.hostRecord, e.host));
  }
  // One write per host, of its newest use: a launch of many instances is many events.
  const newest = new Map<string, HostUsage>();
  for (const e of evs) {
    if (!e.hostId || !e.host || e.hostRecord) continue;
    const seen = newest.get(e.hostId);
    if (!seen || seen.version < e.host.version) newest.set(e.hostId, e.host);
  }
  for (const [hostId, usage] of newest) out.push(updateHostUsage(db, hostId, usage));
  return out;
}

/** D1 batches are one transaction each; keep them well under the statement limits. */
const BATCH = 50;

export async function mirror(
  db: Db,
  evs: readonly FleetEvent[],
  extra: BatchItem<"sqlite">[] = [],
): Promise<void> {
  const stmts = [...mirrorStatements(db, evs), ...extra];
  for (let i = 0; i < stmts.length; i += BATCH) {
    const chunk = stmts.slice(i, i + BATCH);
    await db.batch(chunk as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
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
  const extra = r.status === "not-here" && r.departed ? [upsertInstance(db, r.departed)] : [];
  await mirror(db, res.events, extra);
  return r;
}

/** The newest record of each instance among `events`: what mirroring them leaves in D1. */
export function latestRecords(events: readonly FleetEvent[]): InstanceRecord[] {
  const latest = new Map<string, InstanceRecord>();
  for (const e of events) {
    if (!e.instance) continue;
    const prev = latest.get(e.instance.instanceId);
    if (!prev || prev.version < e.instance.version) latest.set(e.instance.instanceId, e.instance);
  }
  return [...latest.values()];
}
