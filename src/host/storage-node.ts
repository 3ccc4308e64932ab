// The Storage Node Durable Object: one server of a zone's block store, the single writer of the copies
// it holds. It keeps each copy's blocks with the write sequence that made them and their CRC-32C, takes
// a block only when it is newer than the one it has (so copies converge whatever order writes and a
// resync's copying arrive in), and refuses all I/O while failed. Its events go through an outbox, in the
// same transaction as the change, like a host's.
import { DurableObject } from "cloudflare:workers";
import type { FleetEvent } from "../sim/records";
import { crc32cHex } from "../sim/storage/checksum";
import type { NodeState, StorageNodeRecord } from "../sim/storage/replicas";
import type { BlockVersion } from "../sim/storage/snapshots";
import { OUTBOX_RETRY_MS, Outbox } from "./outbox";
import { type Sql, sqlOver } from "./sql";
import { BLOCK_PAGE_MAX, loadNode, migrateNode, saveNode } from "./storage-node-store";

/** Why a node refused: it failed, it holds no copy of the volume, or the block's checksum is wrong. */
export type NodeRefusal = "node-failed" | "no-replica" | "bad-checksum";

export type NodeAnswer<T> = { ok: true; value: T } | { ok: false; reason: NodeRefusal };

export interface StoredBlock extends BlockVersion {
  data: ArrayBuffer;
}

export interface NodeView {
  node: StorageNodeRecord;
  replicas: { volumeId: string; accountId: string; blocks: number }[];
  outboxPending: number;
}

export class StorageNodeObject extends DurableObject<Env> {
  private readonly sql: Sql;
  private readonly outbox: Outbox;
  private node: StorageNodeRecord | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = sqlOver(ctx.storage.sql);
    this.outbox = new Outbox(this.sql, env.EVENTS);
    ctx.blockConcurrencyWhile(async () => {
      ctx.storage.transactionSync(() => migrateNode(this.sql));
      this.node = loadNode(this.sql);
    });
  }

  /** Makes the node (once; later calls answer the record as it is). */
  async init(
    node: Omit<StorageNodeRecord, "state" | "version">,
  ): Promise<{ node: StorageNodeRecord; events: FleetEvent[] }> {
    if (this.node) return { node: this.node, events: [] };
    const record: StorageNodeRecord = { ...node, state: "available", version: 1 };
    const event = this.change(record, "storage-node.created", null, node.createdAt);
    return { node: record, events: [event] };
  }

  async describe(): Promise<NodeView | null> {
    const node = this.node;
    if (!node) return null;
    const replicas = this.sql<{ volumeId: string; accountId: string; blocks: number }>`
      SELECT r.volume_id AS volumeId, r.account_id AS accountId,
        (SELECT count(*) FROM blocks b WHERE b.volume_id = r.volume_id) AS blocks
      FROM replicas r ORDER BY r.volume_id`;
    return { node, replicas, outboxPending: this.outbox.pending() };
  }

  /**
   * Fails the node (it refuses all I/O from now on), or brings it back. A node comes back empty: the
   * volumes it held have each been given a copy elsewhere, so what it kept is stale and is dropped.
   */
  async setState(
    state: NodeState,
    now: number,
  ): Promise<{ node: StorageNodeRecord; dropped: string[]; events: FleetEvent[] }> {
    const node = this.required();
    if (node.state === state) return { node, dropped: [], events: [] };
    const dropped =
      state === "available"
        ? this.sql<{ volume_id: string }>`SELECT volume_id FROM replicas`.map((r) => r.volume_id)
        : [];
    const events: FleetEvent[] = [];
    this.ctx.storage.transactionSync(() => {
      if (state === "available") {
        this.sql`DELETE FROM blocks`;
        this.sql`DELETE FROM replicas`;
      }
      events.push(
        this.change(
          { ...node, state, version: node.version + 1 },
          "storage-node.state-changed",
          node.state,
          now,
        ),
      );
    });
    return { node: this.required(), dropped, events };
  }

  /** Opens an empty copy of a volume here (a no-op if there is one). */
  async createReplica(volumeId: string, accountId: string): Promise<NodeAnswer<null>> {
    if (this.required().state === "failed") return { ok: false, reason: "node-failed" };
    this
      .sql`INSERT OR IGNORE INTO replicas (volume_id, account_id, created_at) VALUES (${volumeId}, ${accountId}, ${Date.now()})`;
    return { ok: true, value: null };
  }

  /** Drops a copy and its blocks (a deleted volume, or a copy the volume no longer lists). */
  async dropReplica(volumeId: string): Promise<void> {
    this.ctx.storage.transactionSync(() => {
      this.sql`DELETE FROM blocks WHERE volume_id = ${volumeId}`;
      this.sql`DELETE FROM replicas WHERE volume_id = ${volumeId}`;
    });
  }

  /**
   * Writes one block if `seq` is newer than the one held. Answers whether it was applied; an older
   * write is taken (acknowledged) without being applied, since a newer one is already here.
   */
  async write(volumeId: string, block: StoredBlock): Promise<NodeAnswer<{ applied: boolean }>> {
    const refused = this.refusal(volumeId);
    if (refused) return { ok: false, reason: refused };
    if (crc32cHex(new Uint8Array(block.data)) !== block.checksum)
      return { ok: false, reason: "bad-checksum" };
    return { ok: true, value: { applied: this.apply(volumeId, block) } };
  }

  /** Blocks copied in from another copy (a resync, or a restore): each applied only if newer. */
  async copyIn(volumeId: string, blocks: StoredBlock[]): Promise<NodeAnswer<{ applied: number }>> {
    const refused = this.refusal(volumeId);
    if (refused) return { ok: false, reason: refused };
    let applied = 0;
    this.ctx.storage.transactionSync(() => {
      for (const b of blocks) {
        if (crc32cHex(new Uint8Array(b.data)) !== b.checksum) throw new Error(`block ${b.n}: bad checksum`);
        if (this.apply(volumeId, b)) applied++;
      }
    });
    return { ok: true, value: { applied } };
  }

  /** One block, or null if the copy never had it written. */
  async read(volumeId: string, n: number): Promise<NodeAnswer<StoredBlock | null>> {
    const refused = this.refusal(volumeId);
    if (refused) return { ok: false, reason: refused };
    const row = this.sql<{ seq: number; checksum: string; data: ArrayBuffer }>`
      SELECT seq, checksum, data FROM blocks WHERE volume_id = ${volumeId} AND n = ${n}`[0];
    return { ok: true, value: row ? { n, seq: row.seq, checksum: row.checksum, data: row.data } : null };
  }

  /** The copy's blocks after block `after`, in order, `limit` at most (BLOCK_PAGE_MAX), with their data or without. */
  async blocks(
    volumeId: string,
    after: number,
    limit: number,
    withData: boolean,
  ): Promise<NodeAnswer<(BlockVersion & { data?: ArrayBuffer })[]>> {
    const refused = this.refusal(volumeId);
    if (refused) return { ok: false, reason: refused };
    const n = Math.max(1, Math.min(limit, BLOCK_PAGE_MAX));
    const rows = withData
      ? this.sql<{ n: number; seq: number; checksum: string; data: ArrayBuffer }>`
          SELECT n, seq, checksum, data FROM blocks WHERE volume_id = ${volumeId} AND n > ${after} ORDER BY n LIMIT ${n}`
      : this.sql<{ n: number; seq: number; checksum: string }>`
          SELECT n, seq, checksum FROM blocks WHERE volume_id = ${volumeId} AND n > ${after} ORDER BY n LIMIT ${n}`;
    return { ok: true, value: rows.map((r) => ({ ...r })) };
  }

  override async alarm(): Promise<void> {
    await this.outbox.deliver();
    if (this.outbox.pending() > 0) await this.ctx.storage.setAlarm(this.outbox.nextAttemptAt());
  }

  // ---- the shell ----

  private required(): StorageNodeRecord {
    if (!this.node) throw new Error("storage node is not initialized");
    return this.node;
  }

  private refusal(volumeId: string): NodeRefusal | null {
    if (this.required().state === "failed") return "node-failed";
    const has = this.sql<{ n: number }>`SELECT count(*) AS n FROM replicas WHERE volume_id = ${volumeId}`[0]
      .n;
    return has > 0 ? null : "no-replica";
  }

  private apply(volumeId: string, b: StoredBlock): boolean {
    const held = this.sql<{
      seq: number;
    }>`SELECT seq FROM blocks WHERE volume_id = ${volumeId} AND n = ${b.n}`[0];
    if (held && held.seq >= b.seq) return false;
    this
      .sql`INSERT OR REPLACE INTO blocks (volume_id, n, seq, checksum, data) VALUES (${volumeId}, ${b.n}, ${b.seq}, ${b.checksum}, ${b.data})`;
    return true;
  }

  /**
   * Stores the node's new record and its event together, then delivers off the caller's path; the
   * caller mirrors the event it answers at once, and the queue's copy finds it logged.
   */
  private change(
    node: StorageNodeRecord,
    type: "storage-node.created" | "storage-node.state-changed",
    previous: NodeState | null,
    now: number,
  ): FleetEvent {
    const event: FleetEvent = {
      id: crypto.randomUUID(),
      type,
      time: now,
      hostId: null,
      instanceId: null,
      previousState: previous,
      state: node.state,
      instance: null,
      host: null,
      hostRecord: null,
      subject: { kind: "storage-node", id: node.nodeId, accountId: null, storageNode: node },
    };
    this.ctx.storage.transactionSync(() => {
      saveNode(this.sql, node);
      this.outbox.append([event]);
    });
    this.node = node;
    this.ctx.waitUntil(this.outbox.deliver());
    this.ctx.waitUntil(this.ctx.storage.setAlarm(Date.now() + OUTBOX_RETRY_MS));
    return event;
  }
}
