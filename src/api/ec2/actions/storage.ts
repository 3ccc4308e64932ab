// The EBS actions, translated to the fleet's volume and snapshot services (fleet/volumes.ts,
// volume-attachments.ts, snapshots.ts): CreateVolume, AttachVolume, DetachVolume,
// DeleteVolume, DescribeVolumes, CreateSnapshot.
import { CLIENT_TOKEN_MAX_LENGTH, CLIENT_TOKEN_PATTERN, QUERY_MAX_RESULTS } from "../../../fleet/limits";
import { createSnapshot } from "../../../fleet/snapshots";
import { attachVolume, detachVolume } from "../../../fleet/volume-attachments";
import type { VolumeView } from "../../../fleet/volume-records";
import { createVolume, deleteVolume, describeVolume, listVolumes } from "../../../fleet/volumes";
import { STORAGE_VOLUME_TYPES, type StorageVolumeType } from "../../../sim/storage/volume-types";
import { type Action, type ActionContext, ready } from "../context";
import { invalidValue, QueryError, unsupported } from "../query";

const VOLUME_ID = /^vol-[0-9a-f]{17}$/;

function volumeId(ctx: ActionContext, name = "VolumeId"): string {
  const id = ctx.q.required(name);
  if (!VOLUME_ID.test(id))
    throw new QueryError(
      "InvalidVolumeID.Malformed",
      `Invalid id: "${id.slice(0, 64)}" (expecting "vol-...")`,
    );
  return id;
}

/** A volume as EC2's `volumeSet` item and CreateVolume's answer show it. */
function volumeItem(v: VolumeView) {
  return {
    volumeId: v.volumeId,
    size: v.sizeGiB,
    snapshotId: v.snapshotId ?? "",
    availabilityZone: v.availabilityZone,
    status: v.state,
    createTime: v.createTime,
    attachmentSet: v.attachments.map((a) => ({
      volumeId: v.volumeId,
      instanceId: a.instanceId,
      device: a.device,
      status: a.state,
      attachTime: a.attachTime,
      deleteOnTermination: false,
    })),
    volumeType: v.volumeType,
    iops: v.iops ?? undefined,
    throughput: v.throughputMiBps ?? undefined,
    encrypted: v.encrypted,
    kmsKeyId: v.kmsKeyId ?? undefined,
    multiAttachEnabled: v.multiAttachEnabled,
  };
}

/** TagSpecification.N on a volume or snapshot: the fleet keeps no tags on them. */
function noTags(ctx: ActionContext): void {
  const specs = ctx.q.structs("TagSpecification", (p) => p);
  if (specs.length > 0) throw unsupported("TagSpecification", "volumes and snapshots here carry no tags");
}

const createVolumeAction: Action = async (ctx) => {
  const { q } = ctx;
  const availabilityZone = q.required("AvailabilityZone");
  const type = q.string("VolumeType") ?? "gp3";
  if (!(STORAGE_VOLUME_TYPES as readonly string[]).includes(type)) {
    throw invalidValue(
      "VolumeType",
      `'${type.slice(0, 16)}' is not one of ${STORAGE_VOLUME_TYPES.join(", ")} (the types this fleet's storage offers)`,
    );
  }
  const sizeGiB = q.int("Size", 1, 65536);
  const iops = q.int("Iops", 1, 1_000_000);
  const throughputMiBps = q.int("Throughput", 1, 100_000);
  const multiAttachEnabled = q.bool("MultiAttachEnabled");
  const snapshotId = q.string("SnapshotId");
  const kmsKeyId = q.string("KmsKeyId");
  if (q.bool("Encrypted") === false) throw unsupported("Encrypted=false", "every volume here is encrypted");
  const clientToken = q.string("ClientToken");
  if (clientToken !== undefined && !CLIENT_TOKEN_PATTERN.test(clientToken)) {
    throw invalidValue("ClientToken", `must be 1 to ${CLIENT_TOKEN_MAX_LENGTH} printable ASCII characters`);
  }
  noTags(ctx);
  ready(ctx, q.bool("DryRun"));
  const v = await createVolume(ctx.fleet, {
    availabilityZone,
    volumeType: type as StorageVolumeType,
    ...(sizeGiB !== undefined ? { sizeGiB } : {}),
    ...(iops !== undefined ? { iops } : {}),
    ...(throughputMiBps !== undefined ? { throughputMiBps } : {}),
    ...(multiAttachEnabled !== undefined ? { multiAttachEnabled } : {}),
    ...(snapshotId !== undefined ? { snapshotId } : {}),
    ...(kmsKeyId !== undefined ? { kmsKeyId } : {}),
    ...(clientToken !== undefined ? { clientToken } : {}),
  });
  return volumeItem(v);
};

const VOLUME_FILTERS: Record<string, (v: VolumeView) => string[]> = {
  "volume-id": (v) => [v.volumeId],
  "availability-zone": (v) => [v.availabilityZone],
  status: (v) => [v.state],
  "volume-type": (v) => [v.volumeType],
  size: (v) => [String(v.sizeGiB)],
  "snapshot-id": (v) => (v.snapshotId ? [v.snapshotId] : []),
  "attachment.instance-id": (v) => v.attachments.map((a) => a.instanceId),
  "attachment.device": (v) => v.attachments.map((a) => a.device),
  "multi-attach-enabled": (v) => [String(v.multiAttachEnabled)],
};

const describeVolumes: Action = async (ctx) => {
  const { q } = ctx;
  const ids = q.list("VolumeId");
  for (const id of ids) {
    if (!VOLUME_ID.test(id))
      throw new QueryError(
        "InvalidVolumeID.Malformed",
        `Invalid id: "${id.slice(0, 64)}" (expecting "vol-...")`,
      );
  }
  const filters = q.filters((n) => Object.hasOwn(VOLUME_FILTERS, n));
  const { maxResults, nextToken } = q.paging(5, 500);
  if (maxResults !== undefined && ids.length > 0) {
    throw new QueryError(
      "InvalidParameterCombination",
      "The parameter VolumeId cannot be used with the parameter MaxResults",
    );
  }
  if (nextToken !== undefined && !VOLUME_ID.test(nextToken))
    throw invalidValue("NextToken", "not a token this endpoint gave");
  ready(ctx, q.bool("DryRun"));
  const match = (v: VolumeView) =>
    [...filters].every(([name, values]) => VOLUME_FILTERS[name](v).some((x) => values.includes(x)));
  if (ids.length > 0) {
    // Each one by id: one that does not exist (or is another account's) is InvalidVolume.NotFound.
    const found: VolumeView[] = [];
    for (const id of new Set(ids)) found.push(await describeVolume(ctx.fleet, id));
    return { volumeSet: found.filter(match).map(volumeItem) };
  }
  const zones = filters.get("availability-zone");
  const page = await listVolumes(ctx.fleet, {
    ...(zones?.length === 1 ? { availabilityZone: zones[0] } : {}),
    ...(nextToken !== undefined ? { cursor: nextToken } : {}),
    limit: maxResults ?? QUERY_MAX_RESULTS / 2,
  });
  return { volumeSet: page.volumes.filter(match).map(volumeItem), nextToken: page.nextCursor ?? undefined };
};

const attachVolumeAction: Action = async (ctx) => {
  const id = volumeId(ctx);
  const instanceId = ctx.q.required("InstanceId");
  const device = ctx.q.required("Device");
  ready(ctx, ctx.q.bool("DryRun"));
  const v = await attachVolume(ctx.fleet, id, { instanceId, device });
  const a = v.attachments.find((x) => x.instanceId === instanceId);
  return {
    volumeId: id,
    instanceId,
    device,
    status: a?.state ?? "attached",
    attachTime: a?.attachTime,
    deleteOnTermination: false,
  };
};

const detachVolumeAction: Action = async (ctx) => {
  const id = volumeId(ctx);
  const instanceId = ctx.q.string("InstanceId");
  ctx.q.string("Device");
  ctx.q.bool("Force");
  ready(ctx, ctx.q.bool("DryRun"));
  const before = await describeVolume(ctx.fleet, id);
  const from = before.attachments.find((a) => instanceId === undefined || a.instanceId === instanceId);
  await detachVolume(ctx.fleet, id, instanceId !== undefined ? { instanceId } : {});
  return {
    volumeId: id,
    instanceId: from?.instanceId,
    device: from?.device,
    status: "detached",
    attachTime: from?.attachTime,
  };
};

const deleteVolumeAction: Action = async (ctx) => {
  const id = volumeId(ctx);
  ready(ctx, ctx.q.bool("DryRun"));
  await deleteVolume(ctx.fleet, id);
  return { return: true };
};

const createSnapshotAction: Action = async (ctx) => {
  const id = volumeId(ctx);
  const description = ctx.q.string("Description") ?? "";
  noTags(ctx);
  ready(ctx, ctx.q.bool("DryRun"));
  const s = await createSnapshot(ctx.fleet, id);
  return {
    snapshotId: s.snapshotId,
    volumeId: s.volumeId,
    status: s.state,
    startTime: s.startTime,
    progress:
      s.state === "completed"
        ? "100%"
        : `${Math.floor((100 * s.blocksStored) / Math.max(1, s.blocksTotal))}%`,
    ownerId: ctx.accountId,
    volumeSize: s.volumeSizeGiB,
    description,
    encrypted: true,
  };
};

export const STORAGE_ACTIONS: Record<string, Action> = {
  CreateVolume: createVolumeAction,
  DescribeVolumes: describeVolumes,
  AttachVolume: attachVolumeAction,
  DetachVolume: detachVolumeAction,
  DeleteVolume: deleteVolumeAction,
  CreateSnapshot: createSnapshotAction,
};
