// A volume's control record as D1 holds it (its truth): the row, its copies and its attachments, read
// together; the view the API answers with; and the one way to change it, a D1 batch whose every
// statement holds only if the volume is still at the version the change was decided on.
import { asc, eq } from "drizzle-orm";
import { volumeAttachments, volumeReplicas, volumes } from "../db/schema";
import type { EventSubject, FleetEvent } from "../sim/records";
import { healthOf, type Replica, type ReplicaState } from "../sim/storage/replicas";
import type { StorageVolumeType } from "../sim/storage/volume-types";
import type { Fleet } from "./context";
import { ApiError } from "./errors";
import type { Statement } from "./mirror";
import { sees } from "./ownership";
import { insertEventIf } from "./storage-events";

export type VolumeRow = typeof volumes.$inferSelect;
export type AttachmentRow = typeof volumeAttachments.$inferSelect;

export interface VolumeRecord {
  row: VolumeRow;
  replicas: Replica[];
  attachments: AttachmentRow[];
}

export const VOLUME_STATES = ["creating", "available", "in-use", "deleting", "deleted", "error"] as const;
export type VolumeState = (typeof VOLUME_STATES)[number];

export const volumeNotFound = (id: string) =>
  new ApiError(404, "InvalidVolume.NotFound", `The volume '${id}' does not exist`, { field: "volumeId" });

export async function loadVolume(fleet: Fleet, id: string): Promise<VolumeRecord | null> {
  const [rows, replicas, attachments] = await fleet.db.batch([
    fleet.db.select().from(volumes).where(eq(volumes.id, id)),
    fleet.db
      .select()
      .from(volumeReplicas)
      .where(eq(volumeReplicas.volumeId, id))
      .orderBy(asc(volumeReplicas.rack)),
    fleet.db
      .select()
      .from(volumeAttachments)
      .where(eq(volumeAttachments.volumeId, id))
      .orderBy(asc(volumeAttachments.attachedAt)),
  ]);
  const row = rows[0];
  if (!row) return null;
  return {
    row,
    replicas: replicas.map((r) => ({ nodeId: r.nodeId, rack: r.rack, state: r.state as ReplicaState })),
    attachments,
  };
}

/** The caller's volume, or InvalidVolume.NotFound (another account's is not found either). */
export async function requireVolume(fleet: Fleet, id: string): Promise<VolumeRecord> {
  const v = await loadVolume(fleet, id);
  if (!v || !sees(fleet.caller, v.row.accountId)) throw volumeNotFound(id);
  return v;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function volumeView(v: VolumeRecord) {
  const r = v.row;
  return {
    volumeId: r.id,
    accountId: r.accountId,
    availabilityZone: r.zone,
    volumeType: r.volumeType as StorageVolumeType,
    sizeGiB: r.sizeGiB,
    iops: r.iops,
    throughputMiBps: r.throughputMiBps,
    multiAttachEnabled: r.multiAttach,
    encrypted: true as const,
    kmsKeyId: r.kmsKeyId,
    snapshotId: r.snapshotId,
    state: r.state as VolumeState,
    health: healthOf(v.replicas),
    replicas: v.replicas.map((x) => ({ nodeId: x.nodeId, rack: x.rack, state: x.state })),
    attachments: v.attachments.map((a) => ({
      instanceId: a.instanceId,
      device: a.device,
      state: "attached" as const,
      attachTime: iso(a.attachedAt),
    })),
    createTime: iso(r.createdAt),
  };
}

export type VolumeView = ReturnType<typeof volumeView>;

export function volumeSubject(r: VolumeRow, detail?: EventSubject["detail"]): EventSubject {
  return { kind: "volume", id: r.id, accountId: r.accountId, ...(detail ? { detail } : {}) };
}

/** The condition every statement of a change carries: the volume is still at `version`. */
export function atVersion(id: string, version: number): Statement {
  return { sql: "EXISTS (SELECT 1 FROM volumes WHERE id = ? AND version = ?)", params: [id, version] };
}

/**
 * Applies a change decided on `row` at its version: `statements` (each written to hold only under the
 * guard, which they take as their last parameters), the events, and the row's new columns, in one D1
 * batch. Answers false, having changed nothing, if the volume moved on meanwhile.
 */
export async function commitVolume(
  fleet: Fleet,
  row: VolumeRow,
  set: { state?: string; health?: string },
  statements: (guard: Statement) => Statement[],
  events: readonly FleetEvent[],
): Promise<boolean> {
  const guard = atVersion(row.id, row.version);
  const stmts = [
    ...statements(guard),
    ...events.map((e) => insertEventIf(e, guard)),
    {
      sql: "UPDATE volumes SET state = ?, health = ?, version = version + 1 WHERE id = ? AND version = ?",
      params: [set.state ?? row.state, set.health ?? row.health, row.id, row.version],
    },
  ];
  const d1 = fleet.db.$client;
  const results = await d1.batch(stmts.map((s) => d1.prepare(s.sql).bind(...s.params)));
  const won = results[results.length - 1].meta.changes === 1;
  if (won) await fleet.publish(events);
  return won;
}

/** Runs `attempt` on the volume as it is now until a change lands (it answers non-null), a few times. */
export async function withVolume<T>(
  fleet: Fleet,
  id: string,
  attempt: (v: VolumeRecord) => Promise<T | null>,
): Promise<T> {
  for (let round = 0; round < 5; round++) {
    const v = await requireVolume(fleet, id);
    const out = await attempt(v);
    if (out !== null) return out;
  }
  throw new ApiError(409, "IncorrectState", `The volume '${id}' is changing; retry`, { field: "volumeId" });
}
