// Where a volume's copies live and what a change to its storage nodes does to them. EBS keeps each
// volume's data on several servers of its zone (the seed: "replication_factor = 3"); here every copy is on
// a storage node in a rack of its own, so one rack's power or switch takes at most one copy. A write is
// acknowledged only when every live copy took it; a copy lost with its node is replaced by a new one,
// filled from a surviving copy while it also takes every new write ("syncing"), and counted once full.

export const REPLICATION_FACTOR = 3;

export const NODE_STATES = ["available", "failed"] as const;
export type NodeState = (typeof NODE_STATES)[number];

export interface StorageNodeRecord {
  nodeId: string;
  zone: string;
  rack: string;
  state: NodeState;
  /** Bumped on every change; the D1 mirror keeps the newest. */
  version: number;
  createdAt: number;
}

export type ReplicaState = "in-sync" | "syncing";

export interface Replica {
  nodeId: string;
  rack: string;
  state: ReplicaState;
}

/** Degraded: fewer in-sync copies than the factor; lost: none left to read from. */
export type VolumeHealth = "ok" | "degraded" | "lost";

export function healthOf(replicas: readonly Replica[]): VolumeHealth {
  const inSync = replicas.filter((r) => r.state === "in-sync").length;
  if (inSync === 0) return "lost";
  return inSync >= REPLICATION_FACTOR ? "ok" : "degraded";
}

/**
 * Nodes for a new copy: available, in the zone, in none of `taken`'s racks (nor each other's), the
 * least loaded first (ties by id, so that the choice is deterministic). Answers fewer than `n` when the
 * zone has too few racks with a live node.
 */
export function chooseNodes(
  nodes: readonly StorageNodeRecord[],
  zone: string,
  taken: readonly { nodeId: string; rack: string }[],
  n: number,
  load: (nodeId: string) => number = () => 0,
): StorageNodeRecord[] {
  const racks = new Set(taken.map((t) => t.rack));
  const used = new Set(taken.map((t) => t.nodeId));
  const candidates = nodes
    .filter((x) => x.zone === zone && x.state === "available" && !used.has(x.nodeId))
    .sort((a, b) => load(a.nodeId) - load(b.nodeId) || (a.nodeId < b.nodeId ? -1 : 1));
  const out: StorageNodeRecord[] = [];
  for (const c of candidates) {
    if (out.length === n) break;
    if (racks.has(c.rack)) continue;
    racks.add(c.rack);
    out.push(c);
  }
  return out;
}

/** The copies a write goes to: every copy on a live node, syncing ones included. */
export function writeTargets(replicas: readonly Replica[], live: (nodeId: string) => boolean): Replica[] {
  return replicas.filter((r) => live(r.nodeId));
}

/** The copies a read may come from, in order: only full ones. */
export function readSources(replicas: readonly Replica[], live: (nodeId: string) => boolean): Replica[] {
  return replicas.filter((r) => r.state === "in-sync" && live(r.nodeId));
}

/**
 * Whether a write is acknowledged: every copy it went to took it, and at least one of them is full.
 * A copy that refused because its node failed has been dropped from the volume before this is asked.
 */
export function acknowledged(targets: readonly Replica[], took: ReadonlySet<string>): boolean {
  return (
    targets.length > 0 &&
    targets.every((r) => took.has(r.nodeId)) &&
    targets.some((r) => r.state === "in-sync")
  );
}

/** The copies after `nodeId` is lost: it is dropped; whatever was syncing stays syncing. */
export function withoutNode(replicas: readonly Replica[], nodeId: string): Replica[] {
  return replicas.filter((r) => r.nodeId !== nodeId);
}

/** Racks are distinct among a volume's copies: the invariant the property tests hold placement to. */
export function racksDistinct(replicas: readonly Replica[]): boolean {
  return new Set(replicas.map((r) => r.rack)).size === replicas.length;
}
