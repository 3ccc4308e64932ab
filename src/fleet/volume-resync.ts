// Bringing a degraded volume back to three copies: a lost copy is dropped from the volume (degrade),
// then a node in a rack none of its copies uses gets a new copy, which takes every write from then on
// ("syncing") while the blocks already written are copied in from a full copy, and counts once they
// all are. Every step is a conditional change of the volume's record, so a message delivered twice, or
// two resyncs of one volume at once, change nothing twice. The `hyperfleet-storage` queue carries them.
import { sql } from "drizzle-orm";
import { z } from "zod";
import { volumeReplicas } from "../db/schema";
import { BLOCK_PAGE_MAX } from "../host/storage-node-store";
import {
  chooseNodes,
  healthOf,
  REPLICATION_FACTOR,
  readSources,
  type StorageNodeRecord,
  withoutNode,
} from "../sim/storage/replicas";
import { OPERATOR } from "./accounts";
import { Fleet } from "./context";
import { storageEvent } from "./storage-events";
import { liveNodes, nodeStub } from "./storage-node-rows";
import { commitVolume, loadVolume, type VolumeRecord, volumeSubject } from "./volume-records";

/** Drops the volume's copy on `nodeId` (its node failed); false if the volume has none there (any more). */
export async function degrade(fleet: Fleet, volumeId: string, nodeId: string): Promise<boolean> {
  for (let round = 0; round < 5; round++) {
    const v = await loadVolume(fleet, volumeId);
    if (!v?.replicas.some((r) => r.nodeId === nodeId)) return false;
    const left = withoutNode(v.replicas, nodeId);
    const event = storageEvent(
      "volume.replica-lost",
      volumeSubject(v.row, { nodeId, copies: left.filter((r) => r.state === "in-sync").length }),
      healthOf(left),
      healthOf(v.replicas),
      await fleet.now(),
    );
    const won = await commitVolume(
      fleet,
      v.row,
      { health: healthOf(left) },
      (g) => [
        {
          sql: `DELETE FROM volume_replicas WHERE volume_id = ? AND node_id = ? AND ${g.sql}`,
          params: [volumeId, nodeId, ...g.params],
        },
      ],
      [event],
    );
    if (won) return true;
  }
  throw new Error(`volume ${volumeId} kept changing while its copy on ${nodeId} was dropped`);
}

export async function queueResync(fleet: Fleet, volumeIds: readonly string[]): Promise<void> {
  for (let at = 0; at < volumeIds.length; at += 100) {
    const part = volumeIds.slice(at, at + 100);
    try {
      await fleet.env.STORAGE.sendBatch(
        part.map((volumeId) => ({ body: { volumeId }, contentType: "json" as const })),
      );
    } catch (err) {
      // Reconcile finds degraded volumes and queues them again.
      console.warn("queueing re-replication failed; reconcile will queue it again", err);
    }
  }
}

export type ResyncOutcome = "ok" | "gone" | "lost" | "no-rack" | "busy";

/** Takes the volume back to REPLICATION_FACTOR full copies if the zone has the racks for it. */
export async function resync(fleet: Fleet, volumeId: string): Promise<ResyncOutcome> {
  for (let round = 0; round < 4 * REPLICATION_FACTOR; round++) {
    const v = await loadVolume(fleet, volumeId);
    if (!v || v.row.state === "deleting" || v.row.state === "deleted") return "gone";
    const live = await liveNodes(fleet, v.row.zone);
    // A copy on a node that has failed since is dropped first.
    const dead = v.replicas.find((r) => !live.has(r.nodeId));
    if (dead) {
      await degrade(fleet, volumeId, dead.nodeId);
      continue;
    }
    const inSync = v.replicas.filter((r) => r.state === "in-sync");
    const syncing = v.replicas.find((r) => r.state === "syncing");
    if (!syncing && inSync.length >= REPLICATION_FACTOR) return "ok";
    if (inSync.length === 0) return "lost";
    const target = syncing ?? (await addCopy(fleet, v, live));
    if (target === "no-rack") return "no-rack";
    if (target === null) continue;
    const outcome = await fill(fleet, v, target.nodeId);
    if (outcome !== "ok") continue;
    await markInSync(fleet, volumeId, target.nodeId);
  }
  return "busy";
}

/** Opens a new copy on a node of an unused rack and lists it, syncing; null if the volume moved on. */
async function addCopy(
  fleet: Fleet,
  v: VolumeRecord,
  live: Map<string, StorageNodeRecord>,
): Promise<{ nodeId: string; rack: string } | "no-rack" | null> {
  const load = new Map(
    (
      await fleet.db
        .select({ nodeId: volumeReplicas.nodeId, n: sql<number>`count(*)` })
        .from(volumeReplicas)
        .groupBy(volumeReplicas.nodeId)
    ).map((r) => [r.nodeId, r.n]),
  );
  for (const candidate of chooseNodes(
    [...live.values()],
    v.row.zone,
    v.replicas,
    live.size,
    (id) => load.get(id) ?? 0,
  )) {
    const opened = await nodeStub(fleet, candidate.nodeId).createReplica(v.row.id, v.row.accountId);
    if (!opened.ok) continue;
    const won = await commitVolume(
      fleet,
      v.row,
      {},
      (g) => [
        {
          sql: `INSERT INTO volume_replicas (volume_id, node_id, rack, state) SELECT ?, ?, ?, 'syncing' WHERE ${g.sql}`,
          params: [v.row.id, candidate.nodeId, candidate.rack, ...g.params],
        },
      ],
      [],
    );
    if (!won) {
      await nodeStub(fleet, candidate.nodeId).dropReplica(v.row.id);
      return null;
    }
    return { nodeId: candidate.nodeId, rack: candidate.rack };
  }
  return "no-rack";
}

/** Copies every block of a full copy into the new one; each block lands only if newer than what it has. */
async function fill(fleet: Fleet, v: VolumeRecord, targetId: string): Promise<"ok" | "retry"> {
  const sources = readSources(v.replicas, (id) => id !== targetId);
  for (const source of sources) {
    let after = -1;
    let failed = false;
    for (;;) {
      const page = await nodeStub(fleet, source.nodeId).blocks(v.row.id, after, BLOCK_PAGE_MAX, true);
      if (!page.ok) {
        if (page.reason === "node-failed") await degrade(fleet, v.row.id, source.nodeId);
        failed = true;
        break;
      }
      if (page.value.length === 0) break;
      const blocks = page.value.map((b) => ({ n: b.n, seq: b.seq, checksum: b.checksum, data: b.data! }));
      const took = await nodeStub(fleet, targetId).copyIn(v.row.id, blocks);
      if (!took.ok) {
        if (took.reason === "node-failed") await degrade(fleet, v.row.id, targetId);
        return "retry";
      }
      after = page.value[page.value.length - 1].n;
      if (page.value.length < BLOCK_PAGE_MAX) break;
    }
    if (!failed) return "ok";
  }
  return "retry";
}

async function markInSync(fleet: Fleet, volumeId: string, nodeId: string): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const v = await loadVolume(fleet, volumeId);
    if (!v) return;
    const r = v.replicas.find((x) => x.nodeId === nodeId);
    if (!r || r.state === "in-sync") return;
    const after = v.replicas.map((x) => (x.nodeId === nodeId ? { ...x, state: "in-sync" as const } : x));
    const event = storageEvent(
      "volume.replica-added",
      volumeSubject(v.row, {
        nodeId,
        rack: r.rack,
        copies: after.filter((x) => x.state === "in-sync").length,
      }),
      healthOf(after),
      healthOf(v.replicas),
      await fleet.now(),
    );
    const won = await commitVolume(
      fleet,
      v.row,
      { health: healthOf(after) },
      (g) => [
        {
          sql: `UPDATE volume_replicas SET state = 'in-sync' WHERE volume_id = ? AND node_id = ? AND ${g.sql}`,
          params: [volumeId, nodeId, ...g.params],
        },
      ],
      [event],
    );
    if (won) return;
  }
}

const ResyncMessage = z.object({ volumeId: z.string().regex(/^vol-[0-9a-f]{17}$/) });

/** The `hyperfleet-storage` consumer: one resync per message, idempotent, retried with backoff. */
export async function consumeStorage(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const fleet = new Fleet(env, OPERATOR);
  for (const msg of batch.messages) {
    const parsed = ResyncMessage.safeParse(msg.body);
    if (!parsed.success) {
      console.error("malformed storage message sent to the DLQ", msg.id);
      try {
        await env.STORAGE_DLQ.send(msg.body, { contentType: "json" });
        msg.ack();
      } catch {
        msg.retry({ delaySeconds: 60 });
      }
      continue;
    }
    try {
      const outcome = await resync(fleet, parsed.data.volumeId);
      // No rack to put a copy in: a node healed or added later queues the zone's degraded volumes.
      if (outcome === "busy") msg.retry({ delaySeconds: Math.min(300, 2 ** msg.attempts) });
      else msg.ack();
    } catch (err) {
      console.warn("re-replication failed; retrying", err);
      msg.retry({ delaySeconds: Math.min(300, 2 ** msg.attempts) });
    }
  }
}
