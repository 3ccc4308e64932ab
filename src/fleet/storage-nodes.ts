// Storage nodes: the servers of a zone's block store, each a Durable Object (host/storage-node.ts) and
// a row in D1. The admin adds them and fails or heals them; a failure takes the node's copy out of every
// volume that had one there (each goes degraded) and queues each for a new copy in another rack.
import { and, asc, count, eq, gt } from "drizzle-orm";
import { storageNodes, volumeReplicas, volumes } from "../db/schema";
import type { NodeState, StorageNodeRecord } from "../sim/storage/replicas";
import type { Fleet } from "./context";
import { ApiError } from "./errors";
import { newId } from "./ids";
import { checkRack, checkZone } from "./limits";
import { mirrorApplied } from "./mirror";
import { pageOf } from "./paging";
import { upsertNode } from "./storage-events";
import { nodeStub } from "./storage-node-rows";
import { degrade, queueResync } from "./volume-resync";

export const nodeNotFound = (id: string) =>
  new ApiError(404, "InvalidStorageNodeID.NotFound", `The storage node '${id}' does not exist`, {
    field: "nodeId",
  });

function nodeView(n: StorageNodeRecord, replicas: number | null = null) {
  return {
    nodeId: n.nodeId,
    availabilityZone: n.zone,
    rack: n.rack,
    state: n.state,
    createTime: new Date(n.createdAt).toISOString(),
    replicas,
  };
}

export async function createStorageNode(
  fleet: Fleet,
  input: { availabilityZone: string; rack: string; nodeId?: string },
) {
  checkZone("body.availabilityZone", input.availabilityZone);
  checkRack("body.rack", input.rack);
  const nodeId = input.nodeId ?? newId("sn");
  const { node, events } = await nodeStub(fleet, nodeId).init({
    nodeId,
    zone: input.availabilityZone,
    rack: input.rack,
    createdAt: await fleet.now(),
  });
  // The node's event (its row with it) is in D1 at once; the queue's copy finds it logged.
  await mirrorApplied(fleet.db, events, [upsertNode(node)]);
  return nodeView(node, 0);
}

export async function listStorageNodes(
  fleet: Fleet,
  f: { availabilityZone?: string; cursor?: string; limit: number },
) {
  const where = [];
  if (f.availabilityZone) where.push(eq(storageNodes.zone, f.availabilityZone));
  if (f.cursor) where.push(gt(storageNodes.id, f.cursor));
  const rows = await fleet.db
    .select()
    .from(storageNodes)
    .where(and(...where))
    .orderBy(asc(storageNodes.id))
    .limit(f.limit + 1);
  const { page, nextCursor } = pageOf(rows, f.limit, (r) => r.id);
  return {
    storageNodes: page.map((r) => nodeView({ ...r, nodeId: r.id, state: r.state as NodeState })),
    nextCursor,
  };
}

/** The node as its object has it, with how many copies it holds (never their data). */
export async function describeStorageNode(fleet: Fleet, nodeId: string) {
  const view = await nodeStub(fleet, nodeId).describe();
  if (!view) throw nodeNotFound(nodeId);
  return nodeView(view.node, view.replicas.length);
}

/**
 * Fails a node, or heals one. A failed node refuses all I/O at once; every volume with a copy there
 * loses it (goes degraded) and is queued for a new copy. A healed node comes back empty and available
 * for new copies, and the zone's degraded volumes are queued again, since it may be the rack they lack.
 */
export async function setStorageNodeState(fleet: Fleet, nodeId: string, state: NodeState) {
  const stub = nodeStub(fleet, nodeId);
  const existing = await stub.describe();
  if (!existing) throw nodeNotFound(nodeId);
  const { node, events } = await stub.setState(state, await fleet.now());
  await mirrorApplied(fleet.db, events, [upsertNode(node)]);
  const held = await fleet.db
    .select({ volumeId: volumeReplicas.volumeId })
    .from(volumeReplicas)
    .where(eq(volumeReplicas.nodeId, nodeId));
  let affected = 0;
  if (state === "failed") {
    for (const { volumeId } of held) if (await degrade(fleet, volumeId, nodeId)) affected++;
    await queueResync(
      fleet,
      held.map((h) => h.volumeId),
    );
  } else {
    affected = await queueZoneResync(fleet, node.zone);
  }
  return { ...nodeView(node, state === "failed" ? existing.replicas.length : 0), volumesAffected: affected };
}

async function queueZoneResync(fleet: Fleet, zone: string): Promise<number> {
  const rows = await fleet.db
    .select({ id: volumes.id })
    .from(volumes)
    .where(and(eq(volumes.zone, zone), eq(volumes.health, "degraded")));
  await queueResync(
    fleet,
    rows.map((r) => r.id),
  );
  return rows.length;
}

/** Storage nodes of the demo fleet: four a zone, each in a storage rack of its own; fixed ids, made once. */
export async function seedDemoStorage(fleet: Fleet, zones: readonly string[]): Promise<void> {
  const n = await fleet.db.select({ n: count() }).from(storageNodes).get();
  if ((n?.n ?? 0) > 0) return;
  await Promise.all(
    zones.flatMap((zone, z) =>
      [1, 2, 3, 4].map((r) =>
        createStorageNode(fleet, {
          availabilityZone: zone,
          rack: `${zone}-storage-${r}`,
          nodeId: `sn-${(z * 4 + r).toString(16).padStart(17, "0")}`,
        }),
      ),
    ),
  );
}
