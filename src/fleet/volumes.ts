// EBS-like volumes: create (three copies on nodes of distinct racks of the zone, or from a snapshot),
// list, describe, delete (only when detached). A volume's record is D1's, changed only by conditional
// batches (volume-records.ts); its data is its storage nodes'.
import { and, asc, eq, gt, inArray, ne } from "drizzle-orm";
import { snapshots, volumeAttachments, volumeReplicas, volumes } from "../db/schema";
import { chooseNodes, healthOf, REPLICATION_FACTOR, type ReplicaState } from "../sim/storage/replicas";
import { resolveVolume, type StorageVolumeType, VolumeSpecError } from "../sim/storage/volume-types";
import type { Fleet } from "./context";
import { ApiError, invalidParameter } from "./errors";
import { newId } from "./ids";
import { checkClientToken, checkZone, KMS_KEY_ID_PATTERN } from "./limits";
import { creatorAccount, ownedBy, sees } from "./ownership";
import { pageOf } from "./paging";
import { keepToken, lostTokenRace, type Token, tokenFor, tokenResource } from "./resource-tokens";
import { insertEventIf, storageEvent } from "./storage-events";
import { liveNodes, nodeStub } from "./storage-node-rows";
import {
  commitVolume,
  loadVolume,
  requireVolume,
  type VolumeRecord,
  volumeSubject,
  volumeView,
  withVolume,
} from "./volume-records";

export interface CreateVolume {
  availabilityZone: string;
  volumeType: StorageVolumeType;
  sizeGiB?: number;
  iops?: number;
  throughputMiBps?: number;
  multiAttachEnabled?: boolean;
  snapshotId?: string;
  kmsKeyId?: string;
  /** EC2's ClientToken: a retry with it and the same parameters answers with the volume it made. */
  clientToken?: string;
}

export const snapshotNotFound = (id: string) =>
  new ApiError(404, "InvalidSnapshot.NotFound", `The snapshot '${id}' does not exist`, {
    field: "snapshotId",
  });

const regionOf = (zone: string) => zone.slice(0, -1);

/** The volume an earlier call with the same client token made. */
async function replayed(fleet: Fleet, volumeId: string) {
  const v = await loadVolume(fleet, volumeId);
  if (!v) throw new ApiError(404, "InvalidVolume.NotFound", `The volume '${volumeId}' does not exist`);
  return volumeView(v);
}

export async function createVolume(fleet: Fleet, input: CreateVolume) {
  const accountId = creatorAccount(fleet.caller);
  checkZone("body.availabilityZone", input.availabilityZone);
  let token: Token | null = null;
  if (input.clientToken !== undefined) {
    checkClientToken("body.clientToken", input.clientToken);
    const { clientToken, ...params } = input;
    token = await tokenFor(accountId, "volume", clientToken, { ...params });
    const earlier = await tokenResource(fleet, token);
    if (earlier) return replayed(fleet, earlier);
  }
  if (input.kmsKeyId !== undefined && !KMS_KEY_ID_PATTERN.test(input.kmsKeyId)) {
    throw invalidParameter("body.kmsKeyId", "must be a KMS key id (a UUID) or a key ARN");
  }
  let sizeGiB = input.sizeGiB;
  if (input.snapshotId) {
    const snap = await fleet.db.select().from(snapshots).where(eq(snapshots.id, input.snapshotId)).get();
    if (!snap || !sees(fleet.caller, snap.accountId) || snap.state !== "completed")
      throw snapshotNotFound(input.snapshotId);
    sizeGiB ??= snap.volumeSizeGiB;
    if (sizeGiB < snap.volumeSizeGiB) {
      throw invalidParameter("body.sizeGiB", `must be at least the snapshot's ${snap.volumeSizeGiB} GiB`);
    }
  }
  if (sizeGiB === undefined)
    throw invalidParameter("body.sizeGiB", "is required unless a snapshotId is given");
  let shape: ReturnType<typeof resolveVolume>;
  try {
    shape = resolveVolume({
      type: input.volumeType,
      sizeGiB,
      iops: input.iops,
      throughputMiBps: input.throughputMiBps,
      multiAttach: input.multiAttachEnabled,
    });
  } catch (err) {
    if (err instanceof VolumeSpecError) {
      const field =
        err.field === "type" ? "volumeType" : err.field === "multiAttach" ? "multiAttachEnabled" : err.field;
      throw invalidParameter(`body.${field}`, err.message);
    }
    throw err;
  }

  const volumeId = newId("vol");
  const live = await liveNodes(fleet, input.availabilityZone);
  const chosen = chooseNodes([...live.values()], input.availabilityZone, [], REPLICATION_FACTOR);
  if (chosen.length < REPLICATION_FACTOR) throw insufficientCapacity(input.availabilityZone, chosen.length);
  const opened: string[] = [];
  for (const n of chosen) {
    const r = await nodeStub(fleet, n.nodeId).createReplica(volumeId, accountId);
    if (!r.ok) break;
    opened.push(n.nodeId);
  }
  if (opened.length < REPLICATION_FACTOR) {
    await Promise.all(opened.map((id) => nodeStub(fleet, id).dropReplica(volumeId)));
    throw insufficientCapacity(input.availabilityZone, opened.length);
  }
  const now = await fleet.now();
  const row = {
    id: volumeId,
    accountId,
    zone: input.availabilityZone,
    volumeType: shape.type,
    sizeGiB: shape.sizeGiB,
    iops: shape.iops,
    throughputMiBps: shape.throughputMiBps,
    multiAttach: shape.multiAttach,
    kmsKeyId:
      input.kmsKeyId ??
      `arn:aws:kms:${regionOf(input.availabilityZone)}:${accountId}:key/${crypto.randomUUID()}`,
    snapshotId: input.snapshotId ?? null,
    state: "available",
    health: "ok",
    writeSeq: 0,
    version: 1,
    createdAt: now,
  };
  const event = storageEvent("volume.created", volumeSubject(row), "available", null, now);
  // The record, its copies and its event in one batch (one transaction).
  const stmts = [
    fleet.db.insert(volumes).values(row).toSQL(),
    fleet.db
      .insert(volumeReplicas)
      .values(chosen.map((n) => ({ volumeId, nodeId: n.nodeId, rack: n.rack, state: "in-sync" })))
      .toSQL(),
    insertEventIf(event, { sql: "1", params: [] }),
    ...(token ? [keepToken(token, volumeId, now)] : []),
  ];
  const d1 = fleet.db.$client;
  try {
    await d1.batch(stmts.map((st) => d1.prepare(st.sql).bind(...st.params)));
  } catch (err) {
    if (!token || !lostTokenRace(err)) throw err;
    // A call with the same token landed first: nothing of this one is in D1; its copies go too.
    await Promise.all(opened.map((id) => nodeStub(fleet, id).dropReplica(volumeId)));
    const earlier = await tokenResource(fleet, token);
    if (!earlier) throw err;
    return replayed(fleet, earlier);
  }
  await fleet.publish([event]);
  return volumeView({
    row,
    replicas: chosen.map((n) => ({ nodeId: n.nodeId, rack: n.rack, state: "in-sync" as ReplicaState })),
    attachments: [],
  });
}

function insufficientCapacity(zone: string, racks: number) {
  return new ApiError(
    503,
    "InsufficientVolumeCapacity",
    `${zone} has ${racks} rack(s) with an available storage node; a volume needs ${REPLICATION_FACTOR} in distinct racks`,
    { field: "availabilityZone" },
    { "retry-after": "5" },
  );
}

export async function describeVolume(fleet: Fleet, id: string) {
  return volumeView(await requireVolume(fleet, id));
}

export async function listVolumes(
  fleet: Fleet,
  f: { availabilityZone?: string; cursor?: string; limit: number },
) {
  const where = [ownedBy(fleet.caller, volumes.accountId), ne(volumes.state, "deleted")];
  if (f.availabilityZone) where.push(eq(volumes.zone, f.availabilityZone));
  if (f.cursor) where.push(gt(volumes.id, f.cursor));
  const rows = await fleet.db
    .select()
    .from(volumes)
    .where(and(...where))
    .orderBy(asc(volumes.id))
    .limit(f.limit + 1);
  const { page, nextCursor } = pageOf(rows, f.limit, (r) => r.id);
  const ids = page.map((r) => r.id);
  const [reps, atts] =
    ids.length === 0
      ? [[], []]
      : await fleet.db.batch([
          fleet.db.select().from(volumeReplicas).where(inArray(volumeReplicas.volumeId, ids)),
          fleet.db.select().from(volumeAttachments).where(inArray(volumeAttachments.volumeId, ids)),
        ]);
  return {
    volumes: page.map((row) =>
      volumeView({
        row,
        replicas: reps
          .filter((r) => r.volumeId === row.id)
          .sort((a, b) => (a.rack < b.rack ? -1 : 1))
          .map((r) => ({ nodeId: r.nodeId, rack: r.rack, state: r.state as ReplicaState })),
        attachments: atts.filter((a) => a.volumeId === row.id).sort((a, b) => a.attachedAt - b.attachedAt),
      }),
    ),
    nextCursor,
  };
}

/** Deletes a detached volume: its record goes, then its copies on their nodes. */
export async function deleteVolume(fleet: Fleet, id: string) {
  const v = await withVolume(fleet, id, async (v: VolumeRecord) => {
    if (v.attachments.length > 0) {
      throw new ApiError(
        409,
        "VolumeInUse",
        `The volume '${id}' is attached to ${v.attachments.map((a) => a.instanceId).join(", ")}; detach it first`,
        { field: "volumeId" },
      );
    }
    const event = storageEvent(
      "volume.state-changed",
      volumeSubject(v.row),
      "deleted",
      v.row.state,
      await fleet.now(),
    );
    const won = await commitVolume(
      fleet,
      v.row,
      { state: "deleted" },
      (g) => [
        { sql: `DELETE FROM volume_replicas WHERE volume_id = ? AND ${g.sql}`, params: [id, ...g.params] },
      ],
      [event],
    );
    return won ? v : null;
  });
  await fleet.db.delete(volumes).where(and(eq(volumes.id, id), eq(volumes.state, "deleted")));
  // A copy whose drop fails here is an orphan that reconcile finds and drops.
  await Promise.allSettled(v.replicas.map((r) => nodeStub(fleet, r.nodeId).dropReplica(id)));
  return { volumeId: id, state: "deleted" as const, health: healthOf([]) };
}
