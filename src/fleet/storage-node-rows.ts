// A storage node as the fleet reaches it: its object, and the zone's nodes as D1 lists them.
import { eq } from "drizzle-orm";
import { storageNodes } from "../db/schema";
import type { NodeState, StorageNodeRecord } from "../sim/storage/replicas";
import type { Fleet } from "./context";

export function nodeStub(fleet: Fleet, nodeId: string) {
  return fleet.env.STORAGE_NODE.getByName(nodeId);
}

/** The nodes of a zone as D1 has them: whom to place copies on. */
export async function zoneNodes(fleet: Fleet, zone: string): Promise<StorageNodeRecord[]> {
  const rows = await fleet.db.select().from(storageNodes).where(eq(storageNodes.zone, zone));
  return rows.map(({ id, ...r }) => ({ ...r, nodeId: id, state: r.state as NodeState }));
}

/** The available ones, by id. */
export async function liveNodes(fleet: Fleet, zone: string): Promise<Map<string, StorageNodeRecord>> {
  const nodes = await zoneNodes(fleet, zone);
  return new Map(nodes.filter((n) => n.state === "available").map((n) => [n.nodeId, n]));
}
