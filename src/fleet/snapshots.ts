// Incremental snapshots of volumes (sim/storage/snapshots.ts): a snapshot stores the blocks whose
// content its chain (the volume's previous snapshot, or the snapshot the volume was made from, and so
// on back) does not already hold, read from a full copy; a volume made from it reads each block it has
// not written from the newest snapshot of the chain that holds it.
import { and, asc, desc, eq, gt } from "drizzle-orm";
import { snapshots } from "../db/schema";
import { BLOCK_PAGE_MAX } from "../host/storage-node-store";
import { readSources } from "../sim/storage/replicas";
import { changedBlocks, versionTag } from "../sim/storage/snapshots";
import type { Fleet } from "./context";
import { ApiError } from "./errors";
import { newId } from "./ids";
import { ownedBy, sees } from "./ownership";
import { pageOf } from "./paging";
import { insertEventIf, storageEvent } from "./storage-events";
import { liveNodes, nodeStub } from "./storage-node-rows";
import { requireVolume } from "./volume-records";
import { degrade } from "./volume-resync";
import { snapshotNotFound } from "./volumes";

type SnapshotRow = typeof snapshots.$inferSelect;

const CHAIN = `WITH RECURSIVE chain(id, depth) AS (
  SELECT ?, 0
  UNION ALL SELECT s.parent_id, c.depth + 1 FROM snapshots s JOIN chain c ON s.id = c.id WHERE s.parent_id IS NOT NULL
)`;

function snapshotView(s: SnapshotRow) {
  return {
    snapshotId: s.id,
    accountId: s.accountId,
    volumeId: s.volumeId,
    parentSnapshotId: s.parentId,
    volumeSizeGiB: s.volumeSizeGiB,
    state: s.state as "pending" | "completed" | "error",
    blocksStored: s.blocksStored,
    blocksTotal: s.blocksTotal,
    startTime: new Date(s.startTime).toISOString(),
  };
}

/** Block `n` as the snapshot restores it (the newest of its chain that holds it), or null. */
export async function restoredBlock(fleet: Fleet, snapshotId: string, n: number) {
  const row = await fleet.db.$client
    .prepare(
      `${CHAIN} SELECT b.data AS data, b.checksum AS checksum FROM snapshot_blocks b JOIN chain c ON b.snapshot_id = c.id WHERE b.n = ? ORDER BY c.depth LIMIT 1`,
    )
    .bind(snapshotId, n)
    .first<{ data: ArrayBuffer; checksum: string }>();
  return row ? { data: row.data, checksum: row.checksum } : null;
}

/** What a chain restores to, block by block: the tag of each block's newest version. */
async function chainTags(fleet: Fleet, snapshotId: string): Promise<Map<number, string>> {
  const { results } = await fleet.db.$client
    .prepare(
      `${CHAIN} SELECT b.n AS n, b.seq AS seq, s.volume_id AS volumeId FROM snapshot_blocks b JOIN chain c ON b.snapshot_id = c.id JOIN snapshots s ON s.id = b.snapshot_id ORDER BY c.depth DESC`,
    )
    .bind(snapshotId)
    .all<{ n: number; seq: number; volumeId: string }>();
  const out = new Map<number, string>();
  for (const r of results) out.set(r.n, versionTag(r.volumeId, r.seq));
  return out;
}

export async function createSnapshot(fleet: Fleet, volumeId: string) {
  const v = await requireVolume(fleet, volumeId);
  if (v.row.state === "deleted" || v.row.state === "deleting") {
    throw new ApiError(409, "IncorrectState", `The volume '${volumeId}' is ${v.row.state}`, {
      field: "volumeId",
    });
  }
  const previous = await fleet.db
    .select()
    .from(snapshots)
    .where(and(eq(snapshots.volumeId, volumeId), eq(snapshots.state, "completed")))
    .orderBy(desc(snapshots.startTime), desc(snapshots.id))
    .get();
  const parentId = previous?.id ?? v.row.snapshotId;
  const before = parentId ? await chainTags(fleet, parentId) : new Map<number, string>();
  const now = await fleet.now();
  const id = newId("snap");
  const row: SnapshotRow = {
    id,
    accountId: v.row.accountId,
    volumeId,
    parentId,
    volumeSizeGiB: v.row.sizeGiB,
    state: "pending",
    blocksStored: 0,
    blocksTotal: 0,
    startTime: now,
  };
  await fleet.db.insert(snapshots).values(row);
  const live = await liveNodes(fleet, v.row.zone);
  const d1 = fleet.db.$client;
  const total = new Set(before.keys());
  let stored = 0;
  let done = false;
  for (const source of readSources(v.replicas, (nid) => live.has(nid))) {
    let after = -1;
    let failed = false;
    for (;;) {
      const page = await nodeStub(fleet, source.nodeId).blocks(volumeId, after, BLOCK_PAGE_MAX, true);
      if (!page.ok) {
        if (page.reason === "node-failed") await degrade(fleet, volumeId, source.nodeId);
        failed = true;
        break;
      }
      const tagged = page.value.map((b) => ({ ...b, tag: versionTag(volumeId, b.seq) }));
      const changed = changedBlocks(tagged, before);
      if (changed.length > 0) {
        await d1.batch(
          changed.map((b) =>
            d1
              .prepare(
                "INSERT OR REPLACE INTO snapshot_blocks (snapshot_id, n, seq, checksum, data) VALUES (?, ?, ?, ?, ?)",
              )
              .bind(id, b.n, b.seq, b.checksum, b.data!),
          ),
        );
      }
      for (const b of page.value) total.add(b.n);
      if (page.value.length === 0) break;
      after = page.value[page.value.length - 1].n;
      if (page.value.length < BLOCK_PAGE_MAX) break;
    }
    if (failed) {
      // Start again from the next copy; what this one gave stays (INSERT OR REPLACE keeps it right).
      await d1.prepare("DELETE FROM snapshot_blocks WHERE snapshot_id = ?").bind(id).run();
      total.clear();
      for (const k of before.keys()) total.add(k);
      continue;
    }
    done = true;
    break;
  }
  if (!done) {
    await fleet.db.update(snapshots).set({ state: "error" }).where(eq(snapshots.id, id));
    throw new ApiError(503, "VolumeUnavailable", `The volume '${volumeId}' has no full copy to snapshot`, {
      field: "volumeId",
    });
  }
  stored =
    (
      await d1
        .prepare("SELECT count(*) AS n FROM snapshot_blocks WHERE snapshot_id = ?")
        .bind(id)
        .first<{ n: number }>()
    )?.n ?? 0;
  const completed = { ...row, state: "completed", blocksStored: stored, blocksTotal: total.size };
  const event = storageEvent(
    "snapshot.completed",
    { kind: "snapshot", id, accountId: row.accountId, detail: { volumeId, blocksStored: stored } },
    "completed",
    "pending",
    await fleet.now(),
  );
  const ev = insertEventIf(event, { sql: "1", params: [] });
  await d1.batch([
    d1
      .prepare("UPDATE snapshots SET state = 'completed', blocks_stored = ?, blocks_total = ? WHERE id = ?")
      .bind(stored, total.size, id),
    d1.prepare(ev.sql).bind(...ev.params),
  ]);
  await fleet.publish([event]);
  return snapshotView(completed);
}

export async function describeSnapshot(fleet: Fleet, id: string) {
  const s = await fleet.db.select().from(snapshots).where(eq(snapshots.id, id)).get();
  if (!s || !sees(fleet.caller, s.accountId)) throw snapshotNotFound(id);
  return snapshotView(s);
}

export async function listSnapshots(fleet: Fleet, f: { volumeId?: string; cursor?: string; limit: number }) {
  const where = [ownedBy(fleet.caller, snapshots.accountId)];
  if (f.volumeId) where.push(eq(snapshots.volumeId, f.volumeId));
  if (f.cursor) where.push(gt(snapshots.id, f.cursor));
  const rows = await fleet.db
    .select()
    .from(snapshots)
    .where(and(...where))
    .orderBy(asc(snapshots.id))
    .limit(f.limit + 1);
  const { page, nextCursor } = pageOf(rows, f.limit, (r) => r.id);
  return { snapshots: page.map(snapshotView), nextCursor };
}
