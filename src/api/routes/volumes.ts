import { createRoute, z } from "@hono/zod-openapi";
import { LOAD_IO_MAX_KIB, LOAD_IOS_MAX, STORAGE_PAGE_MAX } from "../../fleet/limits";
import { createSnapshot, describeSnapshot, listSnapshots } from "../../fleet/snapshots";
import { attachVolume, detachVolume } from "../../fleet/volume-attachments";
import { readBlock, writeBlock } from "../../fleet/volume-blocks";
import { runVolumeLoad, volumeIoCounters } from "../../fleet/volume-load";
import { createVolume, deleteVolume, describeVolume, listVolumes } from "../../fleet/volumes";
import { fleetOf } from "../auth";
import { router } from "../router";
import {
  BlockData,
  BlockRead,
  BlockWrite,
  Checksum,
  ClientToken,
  DeletedVolume,
  Device,
  InstanceId,
  KmsKeyId,
  problemResponses,
  Snapshot,
  SnapshotId,
  SnapshotPage,
  Volume,
  VolumeId,
  VolumeIoCounters,
  VolumeLoad,
  VolumePage,
  VolumeType,
  Zone,
} from "../schemas";

const VolumeParam = z.object({ id: VolumeId.openapi({ param: { name: "id", in: "path" } }) });
const BlockParam = VolumeParam.extend({
  n: z.coerce
    .number()
    .int()
    .min(0)
    .openapi({ param: { name: "n", in: "path" }, description: "Block number: the byte offset over 4,096" }),
});
const PageQuery = {
  limit: z.coerce.number().int().min(1).max(STORAGE_PAGE_MAX).default(50),
};

const CreateVolume = z
  .strictObject({
    availabilityZone: Zone,
    volumeType: VolumeType.default("gp3"),
    sizeGiB: z.number().int().min(1).max(65_536).optional(),
    iops: z.number().int().min(1).max(256_000).optional(),
    throughputMiBps: z.number().int().min(1).max(4000).optional(),
    multiAttachEnabled: z.boolean().optional(),
    snapshotId: SnapshotId.optional(),
    kmsKeyId: KmsKeyId.optional(),
    clientToken: ClientToken.optional().openapi({
      description: "A retry with the same token and parameters answers with the volume the first call made",
    }),
  })
  .openapi("CreateVolume", { example: { availabilityZone: "us-east-1a", volumeType: "gp3", sizeGiB: 8 } });

const json = <S extends z.ZodType>(schema: S, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

export const volumeRoutes = router()
  .openapi(
    createRoute({
      method: "post",
      path: "/volumes",
      tags: ["volumes"],
      summary: "Create a volume (CreateVolume): three copies on storage nodes of distinct racks of the zone",
      request: { body: { content: { "application/json": { schema: CreateVolume } }, required: true } },
      responses: { 201: json(Volume, "The volume"), ...problemResponses(400, 404, 503) },
    }),
    async (c) => c.json(await createVolume(fleetOf(c), c.req.valid("json")), 201),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/volumes",
      tags: ["volumes"],
      summary: "List volumes, a page at a time",
      request: {
        query: z.strictObject({
          availabilityZone: Zone.optional(),
          cursor: VolumeId.optional(),
          ...PageQuery,
        }),
      },
      responses: { 200: json(VolumePage, "A page of volumes"), ...problemResponses(400) },
    }),
    async (c) => c.json(await listVolumes(fleetOf(c), c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/volumes/{id}",
      tags: ["volumes"],
      summary: "One volume: its state, health, copies and attachments",
      request: { params: VolumeParam },
      responses: { 200: json(Volume, "The volume"), ...problemResponses(400, 404) },
    }),
    async (c) => c.json(await describeVolume(fleetOf(c), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/volumes/{id}",
      tags: ["volumes"],
      summary: "Delete a detached volume and its copies",
      request: { params: VolumeParam },
      responses: { 200: json(DeletedVolume, "The volume is gone"), ...problemResponses(400, 404, 409) },
    }),
    async (c) => c.json(await deleteVolume(fleetOf(c), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/volumes/{id}/attach",
      tags: ["volumes"],
      summary: "Attach to an instance of the same zone under a device name",
      request: {
        params: VolumeParam,
        body: {
          content: {
            "application/json": { schema: z.strictObject({ instanceId: InstanceId, device: Device }) },
          },
          required: true,
        },
      },
      responses: { 200: json(Volume, "The volume, attached"), ...problemResponses(400, 404, 409) },
    }),
    async (c) => c.json(await attachVolume(fleetOf(c), c.req.valid("param").id, c.req.valid("json")), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/volumes/{id}/detach",
      tags: ["volumes"],
      summary: "Detach from an instance (name it when the volume has several)",
      request: {
        params: VolumeParam,
        body: {
          content: { "application/json": { schema: z.strictObject({ instanceId: InstanceId.optional() }) } },
          required: false,
        },
      },
      responses: { 200: json(Volume, "The volume"), ...problemResponses(400, 404, 409) },
    }),
    async (c) => {
      const body = (c.req.valid("json") as { instanceId?: string } | undefined) ?? {};
      return c.json(await detachVolume(fleetOf(c), c.req.valid("param").id, body), 200);
    },
  )
  .openapi(
    createRoute({
      method: "put",
      path: "/volumes/{id}/blocks/{n}",
      tags: ["volumes"],
      summary:
        "Write one 4 KiB block through the attached instance's I/O path; acknowledged once every live copy has it",
      request: {
        params: BlockParam,
        body: {
          content: {
            "application/json": {
              schema: z.strictObject({
                data: BlockData,
                checksum: Checksum.optional(),
                instanceId: InstanceId.optional(),
              }),
            },
          },
          required: true,
        },
      },
      responses: {
        200: json(BlockWrite, "The write, acknowledged"),
        ...problemResponses(400, 404, 409, 503),
      },
    }),
    async (c) => {
      const { id, n } = c.req.valid("param");
      return c.json(await writeBlock(fleetOf(c), id, n, c.req.valid("json")), 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/volumes/{id}/blocks/{n}",
      tags: ["volumes"],
      summary: "Read one 4 KiB block through the attached instance's I/O path, from a full copy",
      request: { params: BlockParam, query: z.strictObject({ instanceId: InstanceId.optional() }) },
      responses: { 200: json(BlockRead, "The block"), ...problemResponses(400, 404, 409, 503) },
    }),
    async (c) => {
      const { id, n } = c.req.valid("param");
      return c.json(await readBlock(fleetOf(c), id, n, c.req.valid("query")), 200);
    },
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/volumes/{id}/load",
      tags: ["volumes"],
      summary:
        "Run a sequential load: many I/Os of one size at once through the attached instance's path, held to the lower of the volume's and the instance's limits",
      request: {
        params: VolumeParam,
        body: {
          content: {
            "application/json": {
              schema: z
                .strictObject({
                  instanceId: InstanceId.optional(),
                  ioSizeKiB: z.number().int().min(4).max(LOAD_IO_MAX_KIB).multipleOf(4),
                  count: z.number().int().min(1).max(LOAD_IOS_MAX),
                })
                .openapi("VolumeLoadRequest", { example: { ioSizeKiB: 256, count: 4000 } }),
            },
          },
          required: true,
        },
      },
      responses: {
        200: json(VolumeLoad, "The run: its rates and what held it"),
        ...problemResponses(400, 404, 409),
      },
    }),
    async (c) => c.json(await runVolumeLoad(fleetOf(c), c.req.valid("param").id, c.req.valid("json")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/volumes/{id}/io",
      tags: ["volumes"],
      summary: "An attachment's I/O counters: I/Os, bytes, and how many I/Os each limit held",
      request: { params: VolumeParam, query: z.strictObject({ instanceId: InstanceId.optional() }) },
      responses: { 200: json(VolumeIoCounters, "The counters"), ...problemResponses(400, 404, 409) },
    }),
    async (c) =>
      c.json(await volumeIoCounters(fleetOf(c), c.req.valid("param").id, c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/volumes/{id}/snapshots",
      tags: ["snapshots"],
      summary: "Snapshot the volume: stores only the blocks changed since its previous snapshot",
      request: { params: VolumeParam },
      responses: { 201: json(Snapshot, "The snapshot, completed"), ...problemResponses(400, 404, 409, 503) },
    }),
    async (c) => c.json(await createSnapshot(fleetOf(c), c.req.valid("param").id), 201),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/snapshots",
      tags: ["snapshots"],
      summary: "List snapshots, a page at a time",
      request: {
        query: z.strictObject({ volumeId: VolumeId.optional(), cursor: SnapshotId.optional(), ...PageQuery }),
      },
      responses: { 200: json(SnapshotPage, "A page of snapshots"), ...problemResponses(400) },
    }),
    async (c) => c.json(await listSnapshots(fleetOf(c), c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/snapshots/{id}",
      tags: ["snapshots"],
      summary: "One snapshot",
      request: { params: z.object({ id: SnapshotId.openapi({ param: { name: "id", in: "path" } }) }) },
      responses: { 200: json(Snapshot, "The snapshot"), ...problemResponses(400, 404) },
    }),
    async (c) => c.json(await describeSnapshot(fleetOf(c), c.req.valid("param").id), 200),
  );
