// Shared file systems, EFS-like: a file system of an account, a mount target in each zone its
// instances mount it from, and a small file API with NFS's close-to-open consistency: a file opened
// reads the content it had when it was opened; what a writer writes is seen by nobody until it closes,
// and then by every open after that, on any instance.
import { and, asc, eq, gt } from "drizzle-orm";
import { filesystems, fsFiles, fsHandles, mountTargets } from "../db/schema";
import type { Fleet } from "./context";
import { ApiError, invalidParameter } from "./errors";
import { newId } from "./ids";
import { requireInstanceRow } from "./instance-queries";
import { checkZone, FILE_MAX_BYTES, FILE_PATH_PATTERN, FILES_LISTED_MAX } from "./limits";
import { creatorAccount, ownedBy, sees } from "./ownership";
import { pageOf } from "./paging";
import { insertEventIf, storageEvent } from "./storage-events";

type FsRow = typeof filesystems.$inferSelect;
type MountRow = typeof mountTargets.$inferSelect;

const iso = (ms: number) => new Date(ms).toISOString();

export const fileSystemNotFound = (id: string) =>
  new ApiError(404, "InvalidFileSystemID.NotFound", `The file system '${id}' does not exist`, {
    field: "fileSystemId",
  });
const handleNotFound = (id: string) =>
  new ApiError(404, "InvalidFileHandleID.NotFound", `The open file '${id}' does not exist (or was closed)`, {
    field: "handleId",
  });
const fileNotFound = (path: string) =>
  new ApiError(404, "FileNotFound", `No file '${path}'`, { field: "path" });

function fsView(f: FsRow, mounts: MountRow[]) {
  return {
    fileSystemId: f.id,
    accountId: f.accountId,
    name: f.name,
    state: f.state as "available" | "deleted",
    mountTargets: mounts.map(mountView),
    createTime: iso(f.createdAt),
  };
}

function mountView(m: MountRow) {
  return {
    mountTargetId: m.id,
    fileSystemId: m.filesystemId,
    availabilityZone: m.zone,
    createTime: iso(m.createdAt),
  };
}

async function requireFs(fleet: Fleet, id: string) {
  const [rows, mounts] = await fleet.db.batch([
    fleet.db.select().from(filesystems).where(eq(filesystems.id, id)),
    fleet.db
      .select()
      .from(mountTargets)
      .where(eq(mountTargets.filesystemId, id))
      .orderBy(asc(mountTargets.zone)),
  ]);
  const f = rows[0];
  if (!f || !sees(fleet.caller, f.accountId)) throw fileSystemNotFound(id);
  return { f, mounts };
}

function decode(data: string, field: string): Uint8Array {
  let bin: string;
  try {
    bin = atob(data);
  } catch {
    throw invalidParameter(field, "must be base64");
  }
  if (bin.length > FILE_MAX_BYTES) throw invalidParameter(field, `at most ${FILE_MAX_BYTES} bytes`);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function encode(data: ArrayBuffer | Uint8Array): string {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x2000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x2000));
  return btoa(bin);
}

export async function createFileSystem(fleet: Fleet, input: { name: string }) {
  const accountId = creatorAccount(fleet.caller);
  const now = await fleet.now();
  const row: FsRow = { id: newId("fs"), accountId, name: input.name, state: "available", createdAt: now };
  const event = storageEvent(
    "filesystem.created",
    { kind: "filesystem", id: row.id, accountId },
    "available",
    null,
    now,
  );
  const ev = insertEventIf(event, { sql: "1", params: [] });
  const d1 = fleet.db.$client;
  const ins = fleet.db.insert(filesystems).values(row).toSQL();
  await d1.batch([d1.prepare(ins.sql).bind(...ins.params), d1.prepare(ev.sql).bind(...ev.params)]);
  await fleet.publish([event]);
  return fsView(row, []);
}

export async function describeFileSystem(fleet: Fleet, id: string) {
  const { f, mounts } = await requireFs(fleet, id);
  return fsView(f, mounts);
}

export async function listFileSystems(fleet: Fleet, q: { cursor?: string; limit: number }) {
  const where = [ownedBy(fleet.caller, filesystems.accountId)];
  if (q.cursor) where.push(gt(filesystems.id, q.cursor));
  const rows = await fleet.db
    .select()
    .from(filesystems)
    .where(and(...where))
    .orderBy(asc(filesystems.id))
    .limit(q.limit + 1);
  const { page, nextCursor } = pageOf(rows, q.limit, (r) => r.id);
  const mounts = page.length === 0 ? [] : await fleet.db.select().from(mountTargets);
  return {
    fileSystems: page.map((f) =>
      fsView(
        f,
        mounts.filter((m) => m.filesystemId === f.id),
      ),
    ),
    nextCursor,
  };
}

/** One mount target a zone: the zone's instances mount the file system through it. */
export async function createMountTarget(fleet: Fleet, id: string, input: { availabilityZone: string }) {
  checkZone("body.availabilityZone", input.availabilityZone);
  const { f } = await requireFs(fleet, id);
  const row: MountRow = {
    id: newId("fsmt"),
    filesystemId: f.id,
    zone: input.availabilityZone,
    createdAt: await fleet.now(),
  };
  const made = await fleet.db
    .insert(mountTargets)
    .values(row)
    .onConflictDoNothing()
    .returning({ id: mountTargets.id });
  if (made.length === 0) {
    throw new ApiError(
      409,
      "MountTargetConflict",
      `The file system '${id}' already has a mount target in ${input.availabilityZone}`,
      {
        field: "availabilityZone",
      },
    );
  }
  return mountView(row);
}

/**
 * Opens a file from an instance that mounts the file system (running, of the same account, in a
 * zone with a mount target). A read sees the file as it is now, for as long as it stays open; a
 * write starts from nothing and is published, whole, at close.
 */
export async function openFile(
  fleet: Fleet,
  id: string,
  input: { instanceId: string; path: string; mode: "read" | "write" },
) {
  if (!FILE_PATH_PATTERN.test(input.path))
    throw invalidParameter("body.path", "must be an absolute path like /dir/name.txt");
  const { f, mounts } = await requireFs(fleet, id);
  const inst = await requireInstanceRow(fleet, input.instanceId);
  if (inst.accountId !== f.accountId)
    throw invalidParameter("body.instanceId", "is not an instance of the file system's account");
  if (inst.state !== "running") {
    throw new ApiError(
      409,
      "IncorrectInstanceState",
      `The instance '${inst.id}' is ${inst.state}: only a running one mounts`,
      {
        instanceId: inst.id,
      },
    );
  }
  if (!mounts.some((m) => m.zone === inst.zone)) {
    throw new ApiError(
      409,
      "MountTargetNotFound",
      `The file system '${id}' has no mount target in ${inst.zone}`,
      {
        field: "instanceId",
      },
    );
  }
  const file = await fleet.db
    .select()
    .from(fsFiles)
    .where(and(eq(fsFiles.filesystemId, id), eq(fsFiles.path, input.path)))
    .get();
  if (input.mode === "read" && !file) throw fileNotFound(input.path);
  const handle = {
    id: newId("fh"),
    filesystemId: id,
    instanceId: inst.id,
    path: input.path,
    mode: input.mode,
    baseVersion: file?.version ?? 0,
    data: input.mode === "read" && file ? Buffer.from(file.data) : Buffer.alloc(0),
    dirty: false,
    openedAt: await fleet.now(),
  };
  await fleet.db.insert(fsHandles).values(handle);
  return {
    handleId: handle.id,
    fileSystemId: id,
    instanceId: inst.id,
    path: input.path,
    mode: input.mode,
    version: handle.baseVersion,
  };
}

async function requireHandle(fleet: Fleet, id: string, handleId: string) {
  await requireFs(fleet, id);
  const h = await fleet.db
    .select()
    .from(fsHandles)
    .where(and(eq(fsHandles.id, handleId), eq(fsHandles.filesystemId, id)))
    .get();
  if (!h) throw handleNotFound(handleId);
  return h;
}

/** What the open file reads: the content it was opened on, or (a write) what it has written so far. */
export async function readHandle(fleet: Fleet, id: string, handleId: string) {
  const h = await requireHandle(fleet, id, handleId);
  return { handleId, path: h.path, data: encode(h.data), bytes: h.data.byteLength, version: h.baseVersion };
}

/** Writes the open file's whole content; nobody else sees it before close. */
export async function writeHandle(fleet: Fleet, id: string, handleId: string, body: { data: string }) {
  const h = await requireHandle(fleet, id, handleId);
  if (h.mode !== "write")
    throw new ApiError(409, "IncorrectState", `The file '${h.path}' is open for reading`, {
      field: "handleId",
    });
  const data = decode(body.data, "body.data");
  await fleet.db
    .update(fsHandles)
    .set({ data: Buffer.from(data), dirty: true })
    .where(eq(fsHandles.id, handleId));
  return { handleId, path: h.path, data: body.data, bytes: data.byteLength, version: h.baseVersion };
}

/** Closes the file; a write is published now, as the file's next version (the last close wins). */
export async function closeHandle(fleet: Fleet, id: string, handleId: string) {
  const h = await requireHandle(fleet, id, handleId);
  const d1 = fleet.db.$client;
  if (h.mode === "write" && h.dirty) {
    const now = await fleet.now();
    const [, , row] = await d1.batch([
      d1
        .prepare(
          `INSERT INTO fs_files (filesystem_id, path, data, version, updated_at) VALUES (?, ?, ?, 1, ?)
           ON CONFLICT (filesystem_id, path) DO UPDATE SET data = excluded.data, version = fs_files.version + 1, updated_at = excluded.updated_at`,
        )
        .bind(id, h.path, h.data, now),
      d1.prepare("DELETE FROM fs_handles WHERE id = ?").bind(handleId),
      d1.prepare("SELECT version FROM fs_files WHERE filesystem_id = ? AND path = ?").bind(id, h.path),
    ]);
    const version = (row.results[0] as { version: number } | undefined)?.version ?? 0;
    return { handleId, path: h.path, version, written: true };
  }
  await fleet.db.delete(fsHandles).where(eq(fsHandles.id, handleId));
  return { handleId, path: h.path, version: h.baseVersion, written: false };
}

export async function listFiles(fleet: Fleet, id: string) {
  await requireFs(fleet, id);
  const { results } = await fleet.db.$client
    .prepare(
      "SELECT path, length(data) AS bytes, version, updated_at AS updatedAt FROM fs_files WHERE filesystem_id = ? ORDER BY path LIMIT ?",
    )
    .bind(id, FILES_LISTED_MAX)
    .all<{ path: string; bytes: number; version: number; updatedAt: number }>();
  return {
    fileSystemId: id,
    files: results.map((r) => ({
      path: r.path,
      bytes: r.bytes,
      version: r.version,
      modifiedAt: iso(r.updatedAt),
    })),
  };
}

export async function deleteFile(fleet: Fleet, id: string, path: string) {
  if (!FILE_PATH_PATTERN.test(path))
    throw invalidParameter("query.path", "must be an absolute path like /dir/name.txt");
  await requireFs(fleet, id);
  const gone = await fleet.db
    .delete(fsFiles)
    .where(and(eq(fsFiles.filesystemId, id), eq(fsFiles.path, path)))
    .returning({ version: fsFiles.version });
  if (gone.length === 0) throw fileNotFound(path);
  return { fileSystemId: id, path, version: gone[0].version, deleted: true as const };
}
