// Storage events: a storage node's events (from its object's outbox) keep its D1 row at the newest
// version whatever order the queue brings them in; a volume's events are its account's alone.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { consumeEvents } from "../../src/events/consumer";
import type { FleetEvent } from "../../src/sim/records";
import type { StorageNodeRecord } from "../../src/sim/storage/replicas";
import { bearer, call, newTenant } from "./helpers";
import { attached, storageZone } from "./storage-helpers";

function nodeEvent(node: StorageNodeRecord): FleetEvent {
  return {
    id: crypto.randomUUID(),
    type: "storage-node.state-changed",
    time: 2000,
    hostId: null,
    instanceId: null,
    previousState: null,
    state: node.state,
    instance: null,
    host: null,
    hostRecord: null,
    subject: { kind: "storage-node", id: node.nodeId, accountId: null, storageNode: node },
  };
}

describe("storage events", () => {
  it("keep a storage node's row at its newest version, whatever order they arrive in", async () => {
    const base = { nodeId: "sn-0000000000000beef", zone: "us-east-1a", rack: "r9", createdAt: 1 };
    const newer = nodeEvent({ ...base, state: "failed", version: 3 });
    const older = nodeEvent({ ...base, state: "available", version: 2 });
    const batch = createMessageBatch<unknown>("hyperfleet-events", [
      { id: "a", timestamp: new Date(), attempts: 1, body: newer },
      { id: "b", timestamp: new Date(), attempts: 1, body: older },
    ]);
    const ctx = createExecutionContext();
    await consumeEvents(batch, env);
    const result = await getQueueResult(batch, ctx);
    expect(result.retryMessages).toEqual([]);
    const row = await env.DB.prepare("SELECT state, version FROM storage_nodes WHERE id = ?")
      .bind(base.nodeId)
      .first();
    expect(row).toEqual({ state: "failed", version: 3 });
  });

  it("log a volume's changes for its account, and for no other", async () => {
    const { zone, instanceId } = await storageZone("m5", "m5.large");
    const v = await attached(zone, instanceId);
    type Page = { events: { type: string; state: string }[] };
    const mine = await call<Page>("GET", "/v1/events?limit=1000&type=volume.attached");
    expect(mine.body.events.length).toBeGreaterThan(0);
    expect(mine.body.events.every((e) => e.state === "in-use")).toBe(true);
    const other = bearer((await newTenant("other")).apiKey);
    const theirs = await call<Page>("GET", "/v1/events?limit=1000", undefined, other);
    expect(JSON.stringify(theirs.body)).not.toContain(v.volumeId);
    expect(theirs.body.events.filter((e) => e.type.startsWith("volume."))).toEqual([]);
  });
});
