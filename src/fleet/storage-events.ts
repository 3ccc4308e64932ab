// Storage events: how a change to a volume, snapshot or file system (made in D1, its truth) is logged
// with the change itself, and how a storage node's events (from its object's outbox) reach its D1 row.
import type { EventSubject, FleetEvent, FleetEventType } from "../sim/records";
import type { StorageNodeRecord } from "../sim/storage/replicas";
import type { Statement } from "./mirror";

export function storageEvent(
  type: FleetEventType,
  subject: EventSubject,
  state: string,
  previousState: string | null,
  time: number,
  instanceId: string | null = null,
): FleetEvent {
  return {
    id: crypto.randomUUID(),
    type,
    time,
    hostId: null,
    instanceId,
    previousState,
    state,
    instance: null,
    host: null,
    hostRecord: null,
    subject,
  };
}

/**
 * The event's row in the log, written only if `guard` (an SQL condition with its parameters) holds
 * when the batch runs: so the log has the event exactly when the change it tells of was made.
 */
export function insertEventIf(e: FleetEvent, guard: Statement): Statement {
  return {
    sql: `INSERT INTO events (id, account_id, type, time, wall_time, resource_id, host_id, instance_id, state, previous_state, body) SELECT ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ? WHERE ${guard.sql}`,
    params: [
      e.id,
      e.subject?.accountId ?? null,
      e.type,
      e.time,
      Date.now(),
      e.subject?.id ?? null,
      e.instanceId,
      e.state,
      e.previousState,
      JSON.stringify(e),
      ...guard.params,
    ],
  };
}

const UPSERT_NODE = `INSERT INTO storage_nodes (id, zone, rack, state, version, created_at) VALUES (?, ?, ?, ?, ?, ?)
  ON CONFLICT (id) DO UPDATE SET state = excluded.state, version = excluded.version WHERE excluded.version > storage_nodes.version`;

export function upsertNode(n: StorageNodeRecord): Statement {
  return { sql: UPSERT_NODE, params: [n.nodeId, n.zone, n.rack, n.state, n.version, n.createdAt] };
}

/** The newest record of each storage node among `evs`, as rows (newer versions win). */
export function storageNodeStatements(evs: readonly FleetEvent[]): Statement[] {
  const newest = new Map<string, StorageNodeRecord>();
  for (const e of evs) {
    const n = e.subject?.storageNode;
    if (!n) continue;
    const seen = newest.get(n.nodeId);
    if (!seen || seen.version < n.version) newest.set(n.nodeId, n);
  }
  return [...newest.values()].map(upsertNode);
}
