// Shared file systems: many instances mount one through their zones' mount targets, and see each
// other's writes with close-to-open consistency.
import { describe, expect, it } from "vitest";
import { addHosts, advance, bearer, call, freshZone, launch, newTenant, type Problem } from "./helpers";

const text = (s: string) => btoa(s);

async function instanceIn(zone: string) {
  const l = await launch({ instanceType: "m5.large", availabilityZone: zone });
  expect(l.status).toBe(201);
  return l.body.instances[0].instanceId;
}

async function setup() {
  const [z1, z2, z3] = [freshZone(), freshZone(), freshZone()];
  for (const z of [z1, z2, z3]) await addHosts(z, "m5", 1);
  const a = await instanceIn(z1);
  const b = await instanceIn(z2);
  const c = await instanceIn(z3);
  await advance(60);
  const fs = await call<{ fileSystemId: string }>("POST", "/v1/filesystems", { name: "shared" });
  expect(fs.status).toBe(201);
  const id = fs.body.fileSystemId;
  for (const z of [z1, z2]) {
    expect((await call("POST", `/v1/filesystems/${id}/mount-targets`, { availabilityZone: z })).status).toBe(
      201,
    );
  }
  return { id, a, b, c, z1 };
}

const open = (id: string, instanceId: string, path: string, mode: "read" | "write") =>
  call<{ handleId: string; version: number } & Problem>("POST", `/v1/filesystems/${id}/open`, {
    instanceId,
    path,
    mode,
  });
const readH = async (id: string, h: string) =>
  (await call<{ data: string; version: number }>("GET", `/v1/filesystems/${id}/handles/${h}`)).body;

describe("shared file systems", () => {
  it("show one instance's writes to another after close and open, and not before", async () => {
    const { id, a, b } = await setup();
    const w = await open(id, a, "/shared/notes.txt", "write");
    expect(w.status).toBe(201);
    expect(
      (await call("PUT", `/v1/filesystems/${id}/handles/${w.body.handleId}`, { data: text("one") })).status,
    ).toBe(200);
    // Not closed yet: the other instance sees no file.
    const early = await open(id, b, "/shared/notes.txt", "read");
    expect(early.status).toBe(404);
    expect(early.body.code).toBe("FileNotFound");
    const closed = await call<{ version: number }>(
      "POST",
      `/v1/filesystems/${id}/handles/${w.body.handleId}/close`,
    );
    expect(closed.body.version).toBe(1);

    const r1 = await open(id, b, "/shared/notes.txt", "read");
    expect(r1.status).toBe(201);
    expect((await readH(id, r1.body.handleId)).data).toBe(text("one"));

    // A second write, closed while the reader still has the file open: the open file keeps what it
    // read at open; an open after the close reads the new content.
    const w2 = await open(id, a, "/shared/notes.txt", "write");
    await call("PUT", `/v1/filesystems/${id}/handles/${w2.body.handleId}`, { data: text("two") });
    await call("POST", `/v1/filesystems/${id}/handles/${w2.body.handleId}/close`);
    expect((await readH(id, r1.body.handleId)).data).toBe(text("one"));
    const r2 = await open(id, b, "/shared/notes.txt", "read");
    expect(await readH(id, r2.body.handleId)).toMatchObject({ data: text("two"), version: 2 });

    const files = await call<{ files: { path: string; bytes: number; version: number }[] }>(
      "GET",
      `/v1/filesystems/${id}/files`,
    );
    expect(files.body.files).toEqual([
      expect.objectContaining({ path: "/shared/notes.txt", bytes: 3, version: 2 }),
    ]);
    const del = await call("DELETE", `/v1/filesystems/${id}/files?path=/shared/notes.txt`);
    expect(del.status).toBe(200);
    expect((await open(id, b, "/shared/notes.txt", "read")).status).toBe(404);
  });

  it("mounts only where the file system has a mount target, and only for its account", async () => {
    const { id, c, z1 } = await setup();
    const far = await open(id, c, "/x", "write");
    expect(far.status).toBe(409);
    expect(far.body.code).toBe("MountTargetNotFound");
    const twice = await call<Problem>("POST", `/v1/filesystems/${id}/mount-targets`, {
      availabilityZone: z1,
    });
    expect(twice.status).toBe(409);
    const other = bearer((await newTenant("other")).apiKey);
    expect((await call("GET", `/v1/filesystems/${id}`, undefined, other)).status).toBe(404);
    expect((await call("GET", `/v1/filesystems/${id}/files`, undefined, other)).status).toBe(404);
    const bad = await call<Problem>("POST", `/v1/filesystems/${id}/open`, {
      instanceId: c,
      path: "no-slash",
      mode: "read",
    });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toContain("body.path");
  });
});
