// Block storage and shared file systems as the API shows them: storage nodes, volumes with their copies
// and attachments, block reads and writes with the I/O's path and timing, snapshots, file systems.
import { z } from "@hono/zod-openapi";
import {
  FILE_MAX_BYTES,
  FILE_PATH_MAX_LENGTH,
  FILE_PATH_PATTERN,
  FILES_LISTED_MAX,
  FS_NAME_MAX_LENGTH,
  KMS_KEY_ID_MAX_LENGTH,
  KMS_KEY_ID_PATTERN,
  STORAGE_PAGE_MAX,
} from "../../fleet/limits";
import { VOLUME_STATES } from "../../fleet/volume-records";
import { GATE_NAMES, type GateName } from "../../host/block-io";
import type { BlockPath } from "../../sim/cpu";
import { BLOCK_BYTES } from "../../sim/storage/checksum";
import { NODE_STATES, REPLICATION_FACTOR } from "../../sim/storage/replicas";
import { MULTI_ATTACH_MAX, STORAGE_VOLUME_TYPES } from "../../sim/storage/volume-types";
import { InstanceId, idOf, Rack, Timestamp, Zone } from "./common";
import type { Assert, Mirrors } from "./exact";

export const VolumeId = idOf("vol", "vol-0123456789abcdef0");
export const SnapshotId = idOf("snap", "snap-0123456789abcdef0");
export const StorageNodeId = idOf("sn", "sn-0123456789abcdef0");
export const FileSystemId = idOf("fs", "fs-0123456789abcdef0");
export const MountTargetId = idOf("fsmt", "fsmt-0123456789abcdef0");
export const FileHandleId = idOf("fh", "fh-0123456789abcdef0");

const Account = z
  .string()
  .max(12)
  .regex(/^[0-9]{12}$/, "must be 12 digits");

export const VolumeType = z.enum(STORAGE_VOLUME_TYPES);
export const VolumeState = z.enum(VOLUME_STATES);
export const VolumeHealth = z.enum(["ok", "degraded", "lost"]);
export const Device = z
  .string()
  .max(9)
  .regex(/^\/dev\/(sd|xvd)[b-z]$/, "must be a device name like /dev/sdf")
  .openapi({ example: "/dev/sdf" });
export const KmsKeyId = z
  .string()
  .max(KMS_KEY_ID_MAX_LENGTH)
  .regex(KMS_KEY_ID_PATTERN, "must be a KMS key id (a UUID) or a key ARN");
export const Checksum = z
  .string()
  .max(8)
  .regex(/^[0-9a-f]{8}$/, "must be a CRC-32C as eight lowercase hex digits")
  .openapi({ description: "CRC-32C (Castagnoli) of the block, as eight hex digits", example: "98f94189" });
/** A 4 KiB block in base64: 5,464 characters. */
export const BlockData = z
  .string()
  .max(4 * Math.ceil(BLOCK_BYTES / 3))
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, "must be base64")
  .openapi({ description: `The block's ${BLOCK_BYTES} bytes, base64` });

export const StorageNode = z
  .object({
    nodeId: StorageNodeId,
    availabilityZone: Zone,
    rack: Rack,
    state: z.enum(NODE_STATES),
    createTime: Timestamp,
    replicas: z.number().int().nullable().openapi({ description: "Volume copies it holds (not their data)" }),
  })
  .openapi("StorageNode");

export const StorageNodeChange = StorageNode.extend({
  volumesAffected: z.number().int().openapi({
    description:
      "Volumes that lost a copy here (on failure), or degraded volumes queued for a new copy (on heal)",
  }),
}).openapi("StorageNodeChange");

export const StorageNodePage = z
  .object({ storageNodes: z.array(StorageNode).max(STORAGE_PAGE_MAX), nextCursor: StorageNodeId.nullable() })
  .openapi("StorageNodePage");

export const Volume = z
  .object({
    volumeId: VolumeId,
    accountId: Account,
    availabilityZone: Zone,
    volumeType: VolumeType,
    sizeGiB: z.number().int(),
    iops: z.number().int(),
    throughputMiBps: z.number(),
    multiAttachEnabled: z.boolean(),
    encrypted: z.literal(true),
    kmsKeyId: KmsKeyId,
    snapshotId: SnapshotId.nullable(),
    state: VolumeState,
    health: VolumeHealth,
    replicas: z
      .array(
        z
          .object({ nodeId: StorageNodeId, rack: Rack, state: z.enum(["in-sync", "syncing"]) })
          .openapi("VolumeReplica"),
      )
      .max(REPLICATION_FACTOR + 1),
    attachments: z
      .array(
        z
          .object({
            instanceId: InstanceId,
            device: Device,
            state: z.literal("attached"),
            attachTime: Timestamp,
          })
          .openapi("VolumeAttachment"),
      )
      .max(MULTI_ATTACH_MAX),
    createTime: Timestamp,
  })
  .openapi("Volume");

export const VolumePage = z
  .object({ volumes: z.array(Volume).max(STORAGE_PAGE_MAX), nextCursor: VolumeId.nullable() })
  .openapi("VolumePage");

export const DeletedVolume = z
  .object({ volumeId: VolumeId, state: z.literal("deleted"), health: VolumeHealth })
  .openapi("DeletedVolume");

const blockPaths = ["nvme_card", "virtio_blk", "blkfront", "emulated"] as const;
export type BlockIoPathChecked = Assert<
  Mirrors<z.ZodEnum<{ [K in (typeof blockPaths)[number]]: K }>, BlockPath>
>;

/** A gate of the I/O path (host/block-io.ts), inline wherever it appears. */
const blockGate = () => z.enum(GATE_NAMES);

export const BlockIo = z
  .object({
    instanceId: InstanceId,
    device: Device,
    path: z.enum(blockPaths),
    backend: z.enum(["none", "host", "dom0"]),
    guestCycles: z.number(),
    hypervisorCycles: z.number(),
    dom0Cycles: z.number(),
    hostCycles: z.number(),
    cardNs: z.number(),
    requestedAt: z.number().openapi({ description: "Simulated ms" }),
    startedAt: z.number(),
    completesAt: z.number(),
    queuedMs: z.number(),
    heldBy: blockGate().nullable(),
  })
  .openapi("BlockIo");

/** How many I/Os each gate held (the one that held each longest). */
const HeldBy = z
  .object(
    Object.fromEntries(GATE_NAMES.map((g) => [g, z.number().int()])) as { [K in GateName]: z.ZodNumber },
  )
  .openapi("BlockGateCounts");

export const VolumeIoCounters = z
  .object({
    volumeId: VolumeId,
    instanceId: InstanceId,
    device: Device,
    ios: z.number().int(),
    operations: z.number().int().openapi({
      description: "I/Os as the IOPS limits count them: one past the volume's largest counts as several",
    }),
    bytes: z.number().int(),
    heldBy: HeldBy,
  })
  .openapi("VolumeIoCounters");

export const VolumeLoad = z
  .object({
    volumeId: VolumeId,
    instanceId: InstanceId,
    device: Device,
    ioSizeKiB: z.number().int(),
    ios: z.number().int(),
    operations: z.number().int(),
    bytes: z.number().int(),
    requestedAt: z.number().openapi({ description: "Simulated ms; every I/O of the run is asked for then" }),
    firstStartedAt: z.number(),
    lastCompletedAt: z.number(),
    spanMs: z.number().openapi({ description: "From the request until the gates let the last I/O through" }),
    iops: z.number().nullable(),
    throughputMiBps: z.number().nullable(),
    limits: z
      .object({
        volumeIops: z.number(),
        volumeMiBps: z.number().openapi({ description: "Sustained: st1's baseline, which fills its bucket" }),
        volumeBurstMiBps: z
          .number()
          .nullable()
          .openapi({ description: "st1's burst rate while credits last" }),
        instanceIops: z.number(),
        instanceMiBps: z.number().openapi({ description: "The instance type's EBS bandwidth" }),
        backendIops: z.number().nullable(),
      })
      .openapi("VolumeLoadLimits"),
    heldBy: HeldBy,
    boundBy: blockGate().nullable().openapi({ description: "The gate that held most of the run's I/Os" }),
    burstBalancePct: z.number().nullable().openapi({
      description: "st1: what is left of the burst bucket after the run (CloudWatch's BurstBalance)",
    }),
    counters: z
      .object({
        ios: z.number().int(),
        operations: z.number().int(),
        bytes: z.number().int(),
        heldBy: HeldBy,
      })
      .openapi("VolumeIoTotals"),
  })
  .openapi("VolumeLoad");

export const BlockWrite = z
  .object({
    volumeId: VolumeId,
    block: z.number().int(),
    bytes: z.number().int(),
    checksum: Checksum,
    copies: z
      .number()
      .int()
      .openapi({ description: "Copies that took the write before it was acknowledged" }),
    health: VolumeHealth,
    io: BlockIo,
  })
  .openapi("BlockWrite");

export const BlockRead = z
  .object({
    volumeId: VolumeId,
    block: z.number().int(),
    data: BlockData,
    checksum: Checksum,
    source: z.enum(["volume", "snapshot", "zeros"]),
    health: VolumeHealth,
    io: BlockIo,
  })
  .openapi("BlockRead");

export const Snapshot = z
  .object({
    snapshotId: SnapshotId,
    accountId: Account,
    volumeId: VolumeId,
    parentSnapshotId: SnapshotId.nullable(),
    volumeSizeGiB: z.number().int(),
    state: z.enum(["pending", "completed", "error"]),
    blocksStored: z
      .number()
      .int()
      .openapi({ description: "Blocks this snapshot stores: those changed since its parent" }),
    blocksTotal: z.number().int().openapi({ description: "Blocks it restores, its chain's included" }),
    startTime: Timestamp,
  })
  .openapi("Snapshot");

export const SnapshotPage = z
  .object({ snapshots: z.array(Snapshot).max(STORAGE_PAGE_MAX), nextCursor: SnapshotId.nullable() })
  .openapi("SnapshotPage");

export const InstanceStoreWrite = z
  .object({
    instanceId: InstanceId,
    block: z.number().int(),
    checksum: Checksum,
    written: z.boolean(),
    sizeGB: z.number().int(),
  })
  .openapi("InstanceStoreWrite");

export const InstanceStoreBlock = InstanceStoreWrite.extend({
  data: BlockData,
  written: z
    .boolean()
    .openapi({ description: "False: never written since the instance came to this host (zeros)" }),
}).openapi("InstanceStoreBlock");

export const FileSystemName = z
  .string()
  .min(1)
  .max(FS_NAME_MAX_LENGTH)
  .regex(/^[\x20-\x7e]+$/, "must be printable ASCII")
  .openapi({ example: "shared" });
export const FilePath = z
  .string()
  .max(FILE_PATH_MAX_LENGTH)
  .regex(FILE_PATH_PATTERN, "must be an absolute path like /dir/name.txt (letters, digits, . _ -)")
  .openapi({ example: "/app/config.txt" });
export const FileData = z
  .string()
  .max(4 * Math.ceil(FILE_MAX_BYTES / 3))
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, "must be base64")
  .openapi({ description: `The file's bytes, base64 (at most ${FILE_MAX_BYTES})`, example: "djE=" });

export const MountTarget = z
  .object({
    mountTargetId: MountTargetId,
    fileSystemId: FileSystemId,
    availabilityZone: Zone,
    createTime: Timestamp,
  })
  .openapi("MountTarget");

export const FileSystem = z
  .object({
    fileSystemId: FileSystemId,
    accountId: Account,
    name: FileSystemName,
    state: z.enum(["available", "deleted"]),
    mountTargets: z.array(MountTarget).max(32),
    createTime: Timestamp,
  })
  .openapi("FileSystem");

export const FileSystemPage = z
  .object({ fileSystems: z.array(FileSystem).max(STORAGE_PAGE_MAX), nextCursor: FileSystemId.nullable() })
  .openapi("FileSystemPage");

export const FileHandle = z
  .object({
    handleId: FileHandleId,
    fileSystemId: FileSystemId,
    instanceId: InstanceId,
    path: FilePath,
    mode: z.enum(["read", "write"]),
    version: z
      .number()
      .int()
      .openapi({ description: "The file's version when it was opened (0: it did not exist)" }),
  })
  .openapi("FileHandle");

export const FileContent = z
  .object({
    handleId: FileHandleId,
    path: FilePath,
    data: FileData,
    bytes: z.number().int(),
    version: z.number().int(),
  })
  .openapi("FileContent");

export const FileClosed = z
  .object({ handleId: FileHandleId, path: FilePath, version: z.number().int(), written: z.boolean() })
  .openapi("FileClosed");

export const FileList = z
  .object({
    fileSystemId: FileSystemId,
    files: z
      .array(
        z
          .object({
            path: FilePath,
            bytes: z.number().int(),
            version: z.number().int(),
            modifiedAt: Timestamp,
          })
          .openapi("FileEntry"),
      )
      .max(FILES_LISTED_MAX),
  })
  .openapi("FileList");

export const FileDeleted = z
  .object({ fileSystemId: FileSystemId, path: FilePath, version: z.number().int(), deleted: z.literal(true) })
  .openapi("FileDeleted");
