// The events relay: many hosts' events, packed many to a queue message, sent once stored and
// sent again after a refusal; and the consumer that takes a packed message as it takes one event.
import {
  createExecutionContext,
  createMessageBatch,
  getQueueResult,
  runInDurableObject,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { consumeEvents } from "../../src/events/consumer";
import {
  PACK_BYTES,
  PACK_EVENTS,
  type PackedEvents,
  pack,
  RELAY_GATHER_MS,
} from "../../src/host/event-relay";
import { OUTBOX_BATCH_BYTES } from "../../src/host/outbox";
import type { FleetEvent } from "../../src/sim/records";

function event(n: number, pad = 0): FleetEvent {
  return {
    id: `relay-${crypto.randomUUID()}-${n}`,
    type: "host.state-changed",
    time: 2_000 + n,
    hostId: null,
    instanceId: null,
    previousState: null,
    state: `available${"x".repeat(pad)}`,
    instance: null,
    host: null,
    hostRecord: null,
  };
}

/** A queue that keeps what it is sent, and refuses while `down()`. */
function fakeQueue(down: () => boolean = () => false) {
  const sends: PackedEvents[][] = [];
  const queue = {
    async sendBatch(msgs: Iterable<MessageSendRequest<PackedEvents>>) {
      if (down()) throw new Error("max active timeouts");
      sends.push([...msgs].map((m) => m.body));
    },
  };
  return { queue, sends };
}

type RelayShell = {
  env: Env;
  sendBatch(m: { body: unknown }[]): Promise<void>;
  deliver(): Promise<void>;
  pending(): number;
};

describe("packing events into messages", () => {
  it("keeps their order, caps each message in events and in bytes, and sends an oversized event alone", () => {
    const small = Array.from({ length: 250 }, (_, i) => ({ seq: i + 1, body: JSON.stringify(event(i)) }));
    const byCount = pack(small);
    expect(byCount.map((m) => m.bodies.length)).toEqual([PACK_EVENTS, PACK_EVENTS, 50]);
    expect(byCount.flatMap((m) => m.bodies)).toEqual(small.map((r) => r.body));
    expect(byCount.map((m) => m.lastSeq)).toEqual([100, 200, 250]);
    const big = Array.from({ length: 10 }, (_, i) => ({
      seq: i + 1,
      body: JSON.stringify(event(i, 20_000)),
    }));
    const byBytes = pack(big);
    for (const m of byBytes) expect(m.bytes).toBeLessThanOrEqual(PACK_BYTES);
    expect(byBytes.map((m) => m.bodies.length)).toEqual([3, 3, 3, 1]);
    const huge = [
      { seq: 1, body: "x".repeat(PACK_BYTES + 10) },
      { seq: 2, body: "{}" },
    ];
    expect(pack(huge).map((m) => m.bodies.length)).toEqual([1, 1]);
  });
});

describe("the events relay", () => {
  it("stores what hosts hand it and sends it packed, a few messages a send; a refused send waits for the alarm", async () => {
    let down = true;
    const { queue, sends } = fakeQueue(() => down);
    const events = Array.from({ length: 250 }, (_, i) => event(i));
    const stub = env.EVENT_RELAY.getByName(`test-relay-${crypto.randomUUID()}`);
    const seen = await runInDurableObject(stub, async (obj, state) => {
      const relay = obj as unknown as RelayShell;
      relay.env = { ...relay.env, EVENTS: queue as unknown as Queue };
      // Three hosts' deliveries: fewer events than make a send at once, so they gather.
      await relay.sendBatch(events.slice(0, 100).map((body) => ({ body })));
      await relay.sendBatch(events.slice(100, 200).map((body) => ({ body })));
      await relay.sendBatch(events.slice(200).map((body) => ({ body })));
      const gathered = relay.pending();
      const gatherAlarm = ((await state.storage.getAlarm()) ?? 0) - Date.now();
      // The queue refuses: nothing is lost, and the alarm comes back later.
      await relay.deliver();
      const afterRefusal = relay.pending();
      const retryIn = ((await state.storage.getAlarm()) ?? 0) - Date.now();
      down = false;
      await relay.deliver();
      return { gathered, gatherAlarm, afterRefusal, retryIn, left: relay.pending() };
    });
    expect(seen.gathered).toBe(250);
    expect(seen.gatherAlarm).toBeGreaterThan(0);
    expect(seen.gatherAlarm).toBeLessThanOrEqual(RELAY_GATHER_MS);
    expect(seen.afterRefusal).toBe(250);
    expect(seen.retryIn).toBeGreaterThanOrEqual(2_500);
    expect(seen.left).toBe(0);
    // 250 events in three messages, in their order, each send under the queue's byte cap.
    const messages = sends.flat();
    expect(messages.map((m) => m.events.length)).toEqual([100, 100, 50]);
    expect(messages.flatMap((m) => (m.events as FleetEvent[]).map((e) => e.id))).toEqual(
      events.map((e) => e.id),
    );
    for (const s of sends) expect(JSON.stringify(s).length).toBeLessThanOrEqual(OUTBOX_BATCH_BYTES + 1024);
  });
});

describe("a relay handed enough to send at once", () => {
  it("still sets its alarm, and an alarm that finds a delivery under way comes back after it", async () => {
    // A queue that takes a send only when the test lets it: the delivery stays under way.
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    const queue = { sendBatch: () => held };
    const events = Array.from({ length: 320 }, (_, i) => event(100 + i));
    const stub = env.EVENT_RELAY.getByName(`test-relay-${crypto.randomUUID()}`);
    const seen = await runInDurableObject(stub, async (obj, state) => {
      const relay = obj as unknown as RelayShell & { alarm(): Promise<void> };
      relay.env = { ...relay.env, EVENTS: queue as unknown as Queue };
      // More than a send-at-once's worth in one hand-over: the relay starts sending.
      await relay.sendBatch(events.map((body) => ({ body })));
      const afterHandOver = await state.storage.getAlarm();
      // The alarm runs while that delivery waits on the queue: it sets itself again.
      await state.storage.deleteAlarm();
      await relay.alarm();
      const afterAlarm = await state.storage.getAlarm();
      release();
      return { afterHandOver, afterAlarm };
    });
    expect(seen.afterHandOver).not.toBeNull();
    expect(seen.afterAlarm).not.toBeNull();
  });
});

describe("the events consumer and packed messages", () => {
  it("stores every event of a packed message, and sets a malformed one aside without holding back the rest", async () => {
    const good = Array.from({ length: 5 }, (_, i) => event(i));
    const bad = { ...event(9), type: "host.teleported" };
    const batch = createMessageBatch<unknown>("hyperfleet-events", [
      { id: "p1", timestamp: new Date(), attempts: 1, body: { events: [...good.slice(0, 3), bad] } },
      { id: "p2", timestamp: new Date(), attempts: 1, body: { events: good.slice(3) } },
    ]);
    const ctx = createExecutionContext();
    await consumeEvents(batch, env);
    const result = await getQueueResult(batch, ctx);
    expect(result.retryMessages).toEqual([]);
    expect(result.explicitAcks.sort()).toEqual(["p1", "p2"]);
    const { results } = await env.DB.prepare(
      "SELECT id FROM events WHERE id IN (SELECT value FROM json_each(?))",
    )
      .bind(JSON.stringify([...good, bad].map((e) => e.id)))
      .all<{ id: string }>();
    expect(new Set(results.map((r) => r.id))).toEqual(new Set(good.map((e) => e.id)));
  });
});

describe("the events consumer and a packed message with an event it cannot apply", () => {
  it("applies the others, sends the failed one back alone and is done with the message", async () => {
    const good = Array.from({ length: 3 }, (_, i) => event(20 + i));
    // Valid in shape, but its instance record lacks the columns D1 requires.
    const bad: FleetEvent = {
      ...event(29),
      type: "instance.updated",
      instanceId: "i-0000000000000bad1",
      instance: { instanceId: "i-0000000000000bad1", version: 1 } as unknown as FleetEvent["instance"],
    };
    // A second message whose only event fails: it comes again whole.
    const alone: FleetEvent = { ...bad, id: `relay-${crypto.randomUUID()}-alone` };
    const { queue, sends } = fakeQueue();
    const batch = createMessageBatch<unknown>("hyperfleet-events", [
      { id: "mixed", timestamp: new Date(), attempts: 1, body: { events: [good[0], bad, ...good.slice(1)] } },
      { id: "lone", timestamp: new Date(), attempts: 1, body: { events: [alone] } },
    ]);
    const ctx = createExecutionContext();
    await consumeEvents(batch, { ...env, EVENTS: queue as unknown as Queue });
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toEqual(["mixed"]);
    expect(result.retryMessages.map((m) => m.msgId)).toEqual(["lone"]);
    // The failed event went back by itself, as a message of its own.
    expect(sends).toEqual([[bad]]);
    const { results } = await env.DB.prepare(
      "SELECT id FROM events WHERE id IN (SELECT value FROM json_each(?))",
    )
      .bind(JSON.stringify([...good, bad, alone].map((e) => e.id)))
      .all<{ id: string }>();
    expect(new Set(results.map((r) => r.id))).toEqual(new Set(good.map((e) => e.id)));
  });
});
