import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { consumeEvents } from "../../src/events/consumer";
import { FLEET_EVENT_TYPES, type FleetEvent } from "../../src/sim/records";

function bare(type: string): FleetEvent {
  // No instance or host records: the consumer stores only the event row.
  return {
    id: crypto.randomUUID(),
    type: type as FleetEvent["type"],
    time: 1_000,
    hostId: null,
    instanceId: null,
    previousState: null,
    state: "available",
    instance: null,
    host: null,
    hostRecord: null,
  };
}

describe("the events queue consumer", () => {
  it("stores an event of every kind the model emits, and sets an unknown kind aside", async () => {
    const known = FLEET_EVENT_TYPES.map(bare);
    const unknown = bare("instance.teleported");
    const batch = createMessageBatch<unknown>("hyperfleet-events", [
      ...known.map((e, i) => ({ id: `k${i}`, timestamp: new Date(), attempts: 1, body: e })),
      { id: "u", timestamp: new Date(), attempts: 1, body: unknown },
    ]);
    const ctx = createExecutionContext();
    await consumeEvents(batch, env);
    const result = await getQueueResult(batch, ctx);
    expect(result.retryMessages).toEqual([]);
    expect(result.explicitAcks.length).toBe(known.length + 1);
    const stored = await env.DB.prepare("SELECT id, type FROM events WHERE time = 1000").all<{
      id: string;
      type: string;
    }>();
    const byId = new Map(stored.results.map((r) => [r.id, r.type]));
    for (const e of known) expect(byId.get(e.id)).toBe(e.type);
    // Acked because it went to the dead letter queue, not because it was stored.
    expect(byId.has(unknown.id)).toBe(false);
  });
});
