import { createRoute, z } from "@hono/zod-openapi";
import {
  closeHandle,
  createFileSystem,
  createMountTarget,
  deleteFile,
  describeFileSystem,
  listFileSystems,
  listFiles,
  openFile,
  readHandle,
  writeHandle,
} from "../../fleet/filesystems";
import { STORAGE_PAGE_MAX } from "../../fleet/limits";
import { fleetOf } from "../auth";
import { router } from "../router";
import {
  FileClosed,
  FileContent,
  FileData,
  FileDeleted,
  FileHandle,
  FileHandleId,
  FileList,
  FilePath,
  FileSystem,
  FileSystemId,
  FileSystemName,
  FileSystemPage,
  InstanceId,
  MountTarget,
  problemResponses,
  Zone,
} from "../schemas";

const FsParam = z.object({ id: FileSystemId.openapi({ param: { name: "id", in: "path" } }) });
const HandleParam = FsParam.extend({
  handleId: FileHandleId.openapi({ param: { name: "handleId", in: "path" } }),
});
const json = <S extends z.ZodType>(schema: S, description: string) => ({
  description,
  content: { "application/json": { schema } },
});
const body = <S extends z.ZodType>(schema: S) => ({
  content: { "application/json": { schema } },
  required: true,
});

export const fileSystemRoutes = router()
  .openapi(
    createRoute({
      method: "post",
      path: "/filesystems",
      tags: ["filesystems"],
      summary: "Create a shared file system (EFS-like)",
      request: { body: body(z.strictObject({ name: FileSystemName })) },
      responses: { 201: json(FileSystem, "The file system"), ...problemResponses(400) },
    }),
    async (c) => c.json(await createFileSystem(fleetOf(c), c.req.valid("json")), 201),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/filesystems",
      tags: ["filesystems"],
      summary: "List file systems",
      request: {
        query: z.strictObject({
          cursor: FileSystemId.optional(),
          limit: z.coerce.number().int().min(1).max(STORAGE_PAGE_MAX).default(50),
        }),
      },
      responses: { 200: json(FileSystemPage, "A page of file systems"), ...problemResponses(400) },
    }),
    async (c) => c.json(await listFileSystems(fleetOf(c), c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/filesystems/{id}",
      tags: ["filesystems"],
      summary: "One file system and its mount targets",
      request: { params: FsParam },
      responses: { 200: json(FileSystem, "The file system"), ...problemResponses(400, 404) },
    }),
    async (c) => c.json(await describeFileSystem(fleetOf(c), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/filesystems/{id}/mount-targets",
      tags: ["filesystems"],
      summary: "Add the file system's mount target in a zone (one a zone)",
      request: { params: FsParam, body: body(z.strictObject({ availabilityZone: Zone })) },
      responses: { 201: json(MountTarget, "The mount target"), ...problemResponses(400, 404, 409) },
    }),
    async (c) =>
      c.json(await createMountTarget(fleetOf(c), c.req.valid("param").id, c.req.valid("json")), 201),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/filesystems/{id}/open",
      tags: ["filesystems"],
      summary: "Open a file from an instance that mounts the file system: it reads what was there at open",
      request: {
        params: FsParam,
        body: body(
          z.strictObject({ instanceId: InstanceId, path: FilePath, mode: z.enum(["read", "write"]) }),
        ),
      },
      responses: { 201: json(FileHandle, "The open file"), ...problemResponses(400, 404, 409) },
    }),
    async (c) => c.json(await openFile(fleetOf(c), c.req.valid("param").id, c.req.valid("json")), 201),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/filesystems/{id}/handles/{handleId}",
      tags: ["filesystems"],
      summary: "Read an open file",
      request: { params: HandleParam },
      responses: { 200: json(FileContent, "Its content"), ...problemResponses(400, 404) },
    }),
    async (c) => {
      const { id, handleId } = c.req.valid("param");
      return c.json(await readHandle(fleetOf(c), id, handleId), 200);
    },
  )
  .openapi(
    createRoute({
      method: "put",
      path: "/filesystems/{id}/handles/{handleId}",
      tags: ["filesystems"],
      summary: "Write a file open for writing, whole; others see it after close",
      request: { params: HandleParam, body: body(z.strictObject({ data: FileData })) },
      responses: { 200: json(FileContent, "What it holds now"), ...problemResponses(400, 404, 409) },
    }),
    async (c) => {
      const { id, handleId } = c.req.valid("param");
      return c.json(await writeHandle(fleetOf(c), id, handleId, c.req.valid("json")), 200);
    },
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/filesystems/{id}/handles/{handleId}/close",
      tags: ["filesystems"],
      summary: "Close an open file; a write is published as the file's next version",
      request: { params: HandleParam },
      responses: { 200: json(FileClosed, "Closed"), ...problemResponses(400, 404) },
    }),
    async (c) => {
      const { id, handleId } = c.req.valid("param");
      return c.json(await closeHandle(fleetOf(c), id, handleId), 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/filesystems/{id}/files",
      tags: ["filesystems"],
      summary: "List the files, as closed writes left them",
      request: { params: FsParam },
      responses: { 200: json(FileList, "The files"), ...problemResponses(400, 404) },
    }),
    async (c) => c.json(await listFiles(fleetOf(c), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/filesystems/{id}/files",
      tags: ["filesystems"],
      summary: "Delete a file",
      request: { params: FsParam, query: z.strictObject({ path: FilePath }) },
      responses: { 200: json(FileDeleted, "Deleted"), ...problemResponses(400, 404) },
    }),
    async (c) =>
      c.json(await deleteFile(fleetOf(c), c.req.valid("param").id, c.req.valid("query").path), 200),
  );
