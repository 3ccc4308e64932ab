// The block store's part of the repair path: every storage node object is read and compared with its
// D1 row and with the copies D1 says it holds. A copy D1 lists that the node lacks is dropped from its
// volume (which goes degraded and is queued for a new copy); a copy the node holds for no volume is an
// orphan (a deleted volume whose drop failed) and is dropped; degraded volumes are queued again.
import { asc, eq } from "drizzle-orm";
import { storageNodes, volumeReplicas, volumes } from "../db/schema";
import type { Fleet } from "./context";
import { mirror } from "./mirror";
import { upsertNode } from "./storage-events";
import { nodeStub } from "./storage-node-rows";
import { degrade, queueResync } from "./volume-resync";

export interface StorageMismatch {
  nodeId: string;
  volumeId: string | null;
  kind: "node-missing" | "node-stale-in-d1" | "replica-missing" | "orphan-replica";
  detail: string;
}

export const STORAGE_MISMATCHES_LISTED = 1000;

export async function reconcileStorage(fleet: Fleet, repair: boolean) {
  const rows = await fleet.db.select().from(storageNodes).orderBy(asc(storageNodes.id));
  const mismatches: StorageMismatch[] = [];
  let mismatchCount = 0;
  let repaired = 0;
  let replicasChecked = 0;
  const note = (m: StorageMismatch) => {
    mismatchCount++;
    if (mismatches.length < STORAGE_MISMATCHES_LISTED) mismatches.push(m);
  };
  for (const row of rows) {
    const view = await nodeStub(fleet, row.id).describe();
    if (!view) {
      note({
        nodeId: row.id,
        volumeId: null,
        kind: "node-missing",
        detail: "D1 lists a storage node that has no object",
      });
      continue;
    }
    if (view.node.state !== row.state || view.node.version !== row.version) {
      note({
        nodeId: row.id,
        volumeId: null,
        kind: "node-stale-in-d1",
        detail: `D1 has ${row.state} v${row.version}, the node ${view.node.state} v${view.node.version}`,
      });
      if (repair) {
        await mirror(fleet.db, [], [upsertNode(view.node)]);
        repaired++;
      }
    }
    const listed = await fleet.db
      .select({ volumeId: volumeReplicas.volumeId })
      .from(volumeReplicas)
      .where(eq(volumeReplicas.nodeId, row.id));
    const held = new Set(view.replicas.map((r) => r.volumeId));
    const wanted = new Set(listed.map((l) => l.volumeId));
    replicasChecked += held.size;
    for (const { volumeId } of listed) {
      if (held.has(volumeId)) continue;
      note({
        nodeId: row.id,
        volumeId,
        kind: "replica-missing",
        detail: "D1 lists a copy the node does not hold",
      });
      if (repair && (await degrade(fleet, volumeId, row.id))) repaired++;
    }
    for (const r of view.replicas) {
      if (wanted.has(r.volumeId)) continue;
      note({
        nodeId: row.id,
        volumeId: r.volumeId,
        kind: "orphan-replica",
        detail: `the node holds ${r.blocks} blocks of a copy no volume lists`,
      });
      if (repair) {
        await nodeStub(fleet, row.id).dropReplica(r.volumeId);
        repaired++;
      }
    }
  }
  if (repair) {
    const degraded = await fleet.db
      .select({ id: volumes.id })
      .from(volumes)
      .where(eq(volumes.health, "degraded"));
    await queueResync(
      fleet,
      degraded.map((d) => d.id),
    );
  }
  return {
    nodesChecked: rows.length,
    replicasChecked,
    agree: mismatchCount === 0,
    mismatchCount,
    mismatches,
    repaired,
  };
}
