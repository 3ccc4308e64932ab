// Volumes end to end: three copies in distinct racks, attach, block writes and reads through the
// instance's I/O path, a storage node failing under a volume and the volume healing, ownership.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { OPERATOR } from "../../src/fleet/accounts";
import { Fleet } from "../../src/fleet/context";
import { resync } from "../../src/fleet/volume-resync";
import { crc32cHex } from "../../src/sim/storage/checksum";
import { ADMIN_KEY, advance, bearer, call, launch, newTenant, type Problem } from "./helpers";
import { attached, newVolume, storageZone, type VolumeBody } from "./storage-helpers";

interface BlockBody {
  data: string;
  checksum: string;
  copies: number;
  health: string;
  source: string;
  io: {
    path: string;
    dom0Cycles: number;
    cardNs: number;
    completesAt: number;
    requestedAt: number;
    heldBy: string | null;
  };
}

const admin = bearer(ADMIN_KEY);

function block(seed: number): Uint8Array {
  const b = new Uint8Array(4096);
  for (let i = 0; i < b.length; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}
const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));

const put = (id: string, n: number, data: Uint8Array, extra: Record<string, unknown> = {}) =>
  call<BlockBody & Problem>("PUT", `/v1/volumes/${id}/blocks/${n}`, { data: b64(data), ...extra });
const get = (id: string, n: number) => call<BlockBody & Problem>("GET", `/v1/volumes/${id}/blocks/${n}`);

describe("volumes", () => {
  it("places a volume's three copies on storage nodes of three distinct racks, with a key id of its own", async () => {
    const { zone } = await storageZone("m5", "m5.large");
    const a = await newVolume(zone);
    const b = await newVolume(zone);
    expect(a.status).toBe(201);
    expect(a.body.replicas).toHaveLength(3);
    expect(new Set(a.body.replicas.map((r) => r.rack)).size).toBe(3);
    expect(a.body.health).toBe("ok");
    expect(a.body.kmsKeyId).not.toBe(b.body.kmsKeyId);
  });

  it("refuses a volume when the zone has fewer than three racks with a live node", async () => {
    const { zone } = await storageZone("m5", "m5.large", 2);
    const res = await newVolume(zone);
    expect(res.status).toBe(503);
    expect(res.body.code).toBe("InsufficientVolumeCapacity");
  });

  it("writes and reads back the same bytes through a Nitro instance's NVMe card, checksum and all", async () => {
    const { zone, instanceId } = await storageZone("m5", "m5.large");
    const v = await attached(zone, instanceId);
    const data = block(1);
    const w = await put(v.volumeId, 7, data, { checksum: crc32cHex(data) });
    expect(w.status).toBe(200);
    expect(w.body.copies).toBe(3);
    expect(w.body.io.path).toBe("nvme_card");
    expect(w.body.io.cardNs).toBeGreaterThan(0);
    expect(w.body.io.dom0Cycles).toBe(0);
    const r = await get(v.volumeId, 7);
    expect(r.status).toBe(200);
    expect(r.body.data).toBe(b64(data));
    expect(r.body.checksum).toBe(crc32cHex(data));
    // A block never written reads as zeros.
    const z = await get(v.volumeId, 8);
    expect(z.body.source).toBe("zeros");
    expect(z.body.data).toBe(b64(new Uint8Array(4096)));
  });

  it("sends a Xen instance's block I/O through blkback in dom0", async () => {
    const { zone, instanceId } = await storageZone("m4", "m4.large");
    const v = await attached(zone, instanceId);
    const w = await put(v.volumeId, 0, block(2));
    expect(w.status).toBe(200);
    expect(w.body.io.path).toBe("blkfront");
    expect(w.body.io.dom0Cycles).toBeGreaterThan(0);
    expect(w.body.io.cardNs).toBe(0);
  });

  it("keeps answering reads while degraded, heals to three copies in a fourth rack, and loses no acknowledged write", async () => {
    const { zone, nodes, instanceId } = await storageZone("m5", "m5.large");
    const v = await attached(zone, instanceId);
    expect((await put(v.volumeId, 0, block(10))).status).toBe(200);
    const victim = v.replicas[0].nodeId;
    const failed = await call<{ volumesAffected: number }>(
      "PUT",
      `/v1/storage-nodes/${victim}/state`,
      { state: "failed" },
      admin,
    );
    expect(failed.status).toBe(200);
    expect(failed.body.volumesAffected).toBe(1);
    const degraded = await call<VolumeBody>("GET", `/v1/volumes/${v.volumeId}`);
    expect(degraded.body.health).toBe("degraded");
    expect(degraded.body.replicas.map((r) => r.nodeId)).not.toContain(victim);
    // Reads keep answering; a write while degraded is acknowledged by the two live copies.
    expect((await get(v.volumeId, 0)).body.data).toBe(b64(block(10)));
    const w = await put(v.volumeId, 1, block(11));
    expect(w.body.copies).toBe(2);
    expect(w.body.health).toBe("degraded");

    expect(await resync(new Fleet(env, OPERATOR), v.volumeId)).toBe("ok");
    const healed = await call<VolumeBody>("GET", `/v1/volumes/${v.volumeId}`);
    expect(healed.body.health).toBe("ok");
    expect(healed.body.replicas.filter((r) => r.state === "in-sync")).toHaveLength(3);
    expect(new Set(healed.body.replicas.map((r) => r.rack)).size).toBe(3);
    const fresh = healed.body.replicas
      .map((r) => r.nodeId)
      .find((id) => !v.replicas.some((r) => r.nodeId === id));
    expect(fresh).toBe(nodes.find((n) => !v.replicas.some((r) => r.nodeId === n)));

    // With both older copies gone too, the new copy alone holds every acknowledged write.
    for (const r of v.replicas.slice(1)) {
      await call("PUT", `/v1/storage-nodes/${r.nodeId}/state`, { state: "failed" }, admin);
    }
    expect((await get(v.volumeId, 0)).body.data).toBe(b64(block(10)));
    expect((await get(v.volumeId, 1)).body.data).toBe(b64(block(11)));
    expect((await call<VolumeBody>("GET", `/v1/volumes/${v.volumeId}`)).body.health).toBe("degraded");

    // A healed node comes back empty, available for new copies.
    const healedNode = await call<{ state: string; replicas: number }>(
      "PUT",
      `/v1/storage-nodes/${victim}/state`,
      { state: "available" },
      admin,
    );
    expect(healedNode.body).toMatchObject({ state: "available", replicas: 0 });
  });

  it("attaches one instance at a time, and an io2 Multi-Attach volume to several", async () => {
    const { zone, instanceId } = await storageZone("m5", "m5.large");
    const second = (await launch({ instanceType: "m5.large", availabilityZone: zone })).body.instances[0]
      .instanceId;
    await advance(60);
    const gp3 = await attached(zone, instanceId);
    const again = await call<Problem>("POST", `/v1/volumes/${gp3.volumeId}/attach`, {
      instanceId: second,
      device: "/dev/sdg",
    });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe("VolumeInUse");
    // The device name is the instance's: /dev/sdf is taken on it now.
    const taken = await newVolume(zone);
    const clash = await call<Problem>("POST", `/v1/volumes/${taken.body.volumeId}/attach`, {
      instanceId,
      device: "/dev/sdf",
    });
    expect(clash.status).toBe(400);
    expect(clash.body.detail).toContain("body.device");
    const io2 = await attached(
      zone,
      instanceId,
      { volumeType: "io2", sizeGiB: 10, iops: 1000, multiAttachEnabled: true },
      "/dev/sdg",
    );
    const both = await call<VolumeBody>("POST", `/v1/volumes/${io2.volumeId}/attach`, {
      instanceId: second,
      device: "/dev/sdh",
    });
    expect(both.status).toBe(200);
    expect(both.body.attachments.map((a) => a.instanceId).sort()).toEqual([instanceId, second].sort());
    // Several attachments: a block I/O names its instance.
    const unnamed = await put(io2.volumeId, 0, block(3));
    expect(unnamed.status).toBe(400);
    expect(unnamed.body.fields ?? [unnamed.body.detail]).toBeDefined();
    expect((await put(io2.volumeId, 0, block(3), { instanceId: second })).status).toBe(200);
  });

  it("deletes a volume only once it is detached", async () => {
    const { zone, instanceId } = await storageZone("m5", "m5.large");
    const v = await attached(zone, instanceId);
    const busy = await call<Problem>("DELETE", `/v1/volumes/${v.volumeId}`);
    expect(busy.status).toBe(409);
    expect(busy.body.code).toBe("VolumeInUse");
    expect((await call("POST", `/v1/volumes/${v.volumeId}/detach`, {})).status).toBe(200);
    expect((await call("DELETE", `/v1/volumes/${v.volumeId}`)).status).toBe(200);
    expect((await call<Problem>("GET", `/v1/volumes/${v.volumeId}`)).body.code).toBe(
      "InvalidVolume.NotFound",
    );
  });

  it("refuses what the published limits refuse, naming the field", async () => {
    const { zone, instanceId } = await storageZone("m5", "m5.large");
    const cases: [Record<string, unknown>, string][] = [
      [{ volumeType: "io2", sizeGiB: 10, iops: 20_000 }, "body.iops"],
      [{ volumeType: "gp3", sizeGiB: 8, iops: 5000 }, "body.iops"],
      [{ volumeType: "gp3", sizeGiB: 100, iops: 3000, throughputMiBps: 1000 }, "body.throughputMiBps"],
      [{ volumeType: "st1", sizeGiB: 500, multiAttachEnabled: true }, "body.multiAttachEnabled"],
      [{ volumeType: "st1", sizeGiB: 100 }, "body.sizeGiB"],
      [{ volumeType: "gp3", sizeGiB: undefined }, "body.sizeGiB"],
    ];
    for (const [body, field] of cases) {
      const res = await newVolume(zone, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.detail).toContain(field);
    }
    const v = await attached(zone, instanceId);
    const short = await call<Problem>("PUT", `/v1/volumes/${v.volumeId}/blocks/0`, { data: btoa("abc") });
    expect(short.status).toBe(400);
    expect(short.body.detail).toContain("body.data");
    const wrong = await put(v.volumeId, 0, block(1), { checksum: "00000000" });
    expect(wrong.status).toBe(400);
    expect(wrong.body.detail).toContain("body.checksum");
    const past = await put(v.volumeId, 8 * 262_144, block(1));
    expect(past.status).toBe(400);
    expect(past.body.detail).toContain("path.n");
    // Nothing half-applied: the refused write left block 0 as it was.
    expect((await get(v.volumeId, 0)).body.source).toBe("zeros");
  });

  it("keeps another account's volumes and their blocks out of reach, and block data out of the admin's", async () => {
    const { zone, instanceId } = await storageZone("m5", "m5.large");
    const v = await attached(zone, instanceId);
    expect((await put(v.volumeId, 0, block(5))).status).toBe(200);
    const other = bearer((await newTenant("other")).apiKey);
    expect((await call("GET", `/v1/volumes/${v.volumeId}`, undefined, other)).status).toBe(404);
    expect((await call("GET", `/v1/volumes/${v.volumeId}/blocks/0`, undefined, other)).status).toBe(404);
    expect(
      (await call("PUT", `/v1/volumes/${v.volumeId}/blocks/0`, { data: b64(block(6)) }, other)).status,
    ).toBe(404);
    expect((await call("DELETE", `/v1/volumes/${v.volumeId}`, undefined, other)).status).toBe(404);
    const list = await call<{ volumes: unknown[] }>("GET", "/v1/volumes", undefined, other);
    expect(list.body.volumes).toEqual([]);
    // The admin reads the record but not the data.
    expect((await call("GET", `/v1/volumes/${v.volumeId}`, undefined, admin)).status).toBe(200);
    expect((await call("GET", `/v1/volumes/${v.volumeId}/blocks/0`, undefined, admin)).status).toBe(403);
    const node = await call<Record<string, unknown>>(
      "GET",
      `/v1/storage-nodes/${v.replicas[0].nodeId}`,
      undefined,
      admin,
    );
    expect(JSON.stringify(node.body)).not.toContain(b64(block(5)).slice(0, 32));
  });

  it("joins reconcile: an orphan copy is dropped, a copy its node lost is replaced", async () => {
    const { zone, instanceId } = await storageZone("m5", "m5.large");
    const v = await attached(zone, instanceId);
    expect((await put(v.volumeId, 0, block(20))).status).toBe(200);
    const [lost, , spare] = v.replicas.map((r) => r.nodeId);
    // A copy the node dropped behind D1's back, and a copy of no volume at all.
    await env.STORAGE_NODE.getByName(lost).dropReplica(v.volumeId);
    const orphan = "vol-0000000000000dead";
    await env.STORAGE_NODE.getByName(spare).createReplica(orphan, "000000000000");
    type Report = { storage: { mismatches: { nodeId: string; volumeId: string | null; kind: string }[] } };
    const before = await call<Report>("POST", "/v1/admin/reconcile", {}, admin);
    expect(before.body.storage.mismatches).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ nodeId: lost, volumeId: v.volumeId, kind: "replica-missing" }),
        expect.objectContaining({ nodeId: spare, volumeId: orphan, kind: "orphan-replica" }),
      ]),
    );
    await call("POST", "/v1/admin/reconcile", { repair: true }, admin);
    const degraded = await call<VolumeBody>("GET", `/v1/volumes/${v.volumeId}`);
    expect(degraded.body.replicas.map((r) => r.nodeId)).not.toContain(lost);
    expect(await resync(new Fleet(env, OPERATOR), v.volumeId)).toBe("ok");
    const after = await call<Report>("POST", "/v1/admin/reconcile", {}, admin);
    const mine = after.body.storage.mismatches.filter(
      (m) => m.volumeId === v.volumeId || m.volumeId === orphan,
    );
    expect(mine).toEqual([]);
    expect((await get(v.volumeId, 0)).body.data).toBe(b64(block(20)));
  });
});
