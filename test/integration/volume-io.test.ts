// A volume's throughput under load stays within its type's and its instance's limits, and snapshots
// are incremental and restore the exact bytes.
import { describe, expect, it } from "vitest";
import { findInstanceType } from "../../src/sim/catalog";
import { ADMIN_KEY, advance, bearer, call, type Problem } from "./helpers";
import { attached, storageZone } from "./storage-helpers";

interface WriteBody {
  io: { requestedAt: number; startedAt: number; completesAt: number; heldBy: string | null };
}

function block(seed: number): string {
  const b = new Uint8Array(4096);
  for (let i = 0; i < b.length; i++) b[i] = (seed * 131 + i) & 0xff;
  return btoa(String.fromCharCode(...b));
}

/** `n` writes issued at one simulated instant (the test clock is manual): the I/Os a second they complete at. */
async function burst(volumeId: string, n: number) {
  const done: WriteBody["io"][] = [];
  for (let i = 0; i < n; i++) {
    const res = await call<WriteBody & Problem>("PUT", `/v1/volumes/${volumeId}/blocks/${i}`, {
      data: block(i),
    });
    expect(res.status).toBe(200);
    done.push(res.body.io);
  }
  const t0 = done[0].requestedAt;
  expect(done.every((d) => d.requestedAt === t0)).toBe(true);
  // The last I/O starts when the gates have let the n − 1 before it through.
  const lastStart = Math.max(...done.map((d) => d.startedAt));
  return { iops: ((n - 1) * 1000) / (lastStart - t0), heldBy: done[n - 1].heldBy };
}

describe("volume throughput under load", () => {
  it("holds a gp3 volume on an m5.large to the volume's 3,000 IOPS", async () => {
    const { zone, instanceId } = await storageZone("m5", "m5.large");
    const v = await attached(zone, instanceId);
    const { iops, heldBy } = await burst(v.volumeId, 40);
    // Simulated ms near 1.8e12 carry about 0.2 µs of rounding: 0.1% over a 13 ms burst.
    expect(iops).toBeLessThanOrEqual(3000 * 1.001);
    expect(iops).toBeGreaterThan(2900);
    expect(heldBy).toBe("volume-iops");
  });

  it("holds an io2 volume of 10,000 IOPS to the m5.large's EBS baseline", async () => {
    const { zone, instanceId } = await storageZone("m5", "m5.large");
    const v = await attached(zone, instanceId, { volumeType: "io2", sizeGiB: 20, iops: 10_000 });
    const { iops, heldBy } = await burst(v.volumeId, 40);
    const limit = findInstanceType("m5.large")!.ebsBaselineIops;
    expect(limit).toBeLessThan(10_000);
    expect(iops).toBeLessThanOrEqual(limit * 1.001);
    expect(iops).toBeGreaterThan(limit * 0.97);
    expect(heldBy).toBe("instance-iops");
  });

  it("holds an st1 volume to its 500 IOPS, and lets I/O through again once simulated time has passed", async () => {
    const { zone, instanceId } = await storageZone("m5", "m5.large");
    const v = await attached(zone, instanceId, { volumeType: "st1", sizeGiB: 500 });
    const { iops } = await burst(v.volumeId, 20);
    expect(iops).toBeLessThanOrEqual(500 * 1.001);
    expect(iops).toBeGreaterThan(480);
    await advance(10);
    const after = await call<WriteBody>("PUT", `/v1/volumes/${v.volumeId}/blocks/0`, { data: block(0) });
    expect(after.body.io.startedAt).toBe(after.body.io.requestedAt);
  });
});

interface SnapBody {
  snapshotId: string;
  blocksStored: number;
  blocksTotal: number;
  parentSnapshotId: string | null;
}

describe("snapshots", () => {
  it("store only the blocks changed since the last one, and a volume made from one reads the same bytes", async () => {
    const { zone, instanceId } = await storageZone("m5", "m5.large");
    const v = await attached(zone, instanceId);
    const put = (id: string, n: number, seed: number) =>
      call("PUT", `/v1/volumes/${id}/blocks/${n}`, { data: block(seed) });
    for (let n = 0; n < 5; n++) await put(v.volumeId, n, n);
    const s1 = await call<SnapBody>("POST", `/v1/volumes/${v.volumeId}/snapshots`);
    expect(s1.status).toBe(201);
    expect(s1.body).toMatchObject({ blocksStored: 5, blocksTotal: 5, parentSnapshotId: null });
    await put(v.volumeId, 1, 100);
    await put(v.volumeId, 9, 109);
    const s2 = await call<SnapBody>("POST", `/v1/volumes/${v.volumeId}/snapshots`);
    expect(s2.body).toMatchObject({ blocksStored: 2, blocksTotal: 6, parentSnapshotId: s1.body.snapshotId });
    await put(v.volumeId, 2, 200);

    // A volume from the first snapshot reads the volume as it was then; one from the second, as then.
    const from1 = await attached(
      zone,
      instanceId,
      { snapshotId: s1.body.snapshotId, sizeGiB: undefined },
      "/dev/sdg",
    );
    const from2 = await attached(
      zone,
      instanceId,
      { snapshotId: s2.body.snapshotId, sizeGiB: undefined },
      "/dev/sdh",
    );
    const read = async (id: string, n: number) =>
      (await call<{ data: string; source: string }>("GET", `/v1/volumes/${id}/blocks/${n}`)).body;
    for (const n of [0, 1, 2, 3, 4]) expect((await read(from1.volumeId, n)).data).toBe(block(n));
    expect((await read(from1.volumeId, 9)).source).toBe("zeros");
    const want2: [number, number][] = [
      [0, 0],
      [1, 100],
      [2, 2],
      [3, 3],
      [4, 4],
      [9, 109],
    ];
    for (const [n, seed] of want2) {
      const got = await read(from2.volumeId, n);
      expect(got.data).toBe(block(seed));
      expect(got.source).toBe("snapshot");
    }
    // Its own writes win over the snapshot's, and its first snapshot stores only them.
    await put(from2.volumeId, 3, 303);
    expect((await read(from2.volumeId, 3)).data).toBe(block(303));
    const s3 = await call<SnapBody>("POST", `/v1/volumes/${from2.volumeId}/snapshots`);
    expect(s3.body).toMatchObject({ blocksStored: 1, blocksTotal: 6, parentSnapshotId: s2.body.snapshotId });
  });

  it("keeps another account's snapshots out of reach, even to make a volume from", async () => {
    const { zone, instanceId } = await storageZone("m5", "m5.large");
    const v = await attached(zone, instanceId);
    const s = await call<SnapBody>("POST", `/v1/volumes/${v.volumeId}/snapshots`);
    const { newTenant } = await import("./helpers");
    const other = bearer((await newTenant("other")).apiKey);
    expect((await call("GET", `/v1/snapshots/${s.body.snapshotId}`, undefined, other)).status).toBe(404);
    const stolen = await call<Problem>(
      "POST",
      "/v1/volumes",
      { availabilityZone: zone, volumeType: "gp3", snapshotId: s.body.snapshotId },
      other,
    );
    expect(stolen.status).toBe(404);
    expect(stolen.body.code).toBe("InvalidSnapshot.NotFound");
    expect(
      (await call("GET", `/v1/snapshots/${s.body.snapshotId}`, undefined, bearer(ADMIN_KEY))).status,
    ).toBe(200);
  });
});
