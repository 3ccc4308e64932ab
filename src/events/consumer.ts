// The events queue consumer: validates each message, mirrors it into D1 (idempotent by
// event id and record version), fans it out to webhook subscriptions (idempotent by
// subscription and event), acks it; retries with backoff; poison goes to the DLQ.
import { z } from "zod";
import { database } from "../db/client";
import { eventAccount, mirror, mirrorNew } from "../fleet/mirror";
import { FLEET_EVENT_TYPES, type FleetEvent } from "../sim/records";
import { fanOut } from "./fanout";

// The kinds come from the one list the model emits from; `satisfies` makes the compiler
// ask for a validator here whenever FleetEvent gains a field (and refuse a stray one).
const eventSchema = z.object({
  id: z.string().min(1),
  type: z.enum(FLEET_EVENT_TYPES),
  time: z.number(),
  hostId: z.string().nullable(),
  instanceId: z.string().nullable(),
  previousState: z.string().nullable(),
  state: z.string(),
  instance: z.object({ instanceId: z.string(), version: z.number() }).passthrough().nullable(),
  host: z.object({ version: z.number() }).passthrough().nullable(),
  hostRecord: z.object({ hostId: z.string() }).passthrough().nullable(),
  subject: z
    .object({
      kind: z.enum(["volume", "snapshot", "storage-node", "filesystem", "migration", "instance-event"]),
      id: z.string(),
      accountId: z.string().nullable(),
      storageNode: z.object({ nodeId: z.string(), version: z.number() }).passthrough().optional(),
    })
    .passthrough()
    .optional(),
} satisfies Record<keyof FleetEvent, z.ZodType>);

/** A message's events: one event, or several packed by a relay (host/event-relay.ts). */
function eventsOf(body: unknown): unknown[] {
  if (body && typeof body === "object" && Array.isArray((body as { events?: unknown }).events)) {
    return (body as { events: unknown[] }).events;
  }
  return [body];
}

export async function consumeEvents(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = database(env.DB);
  const valid: { msg: Message<unknown>; events: FleetEvent[] }[] = [];
  for (const msg of batch.messages) {
    const events: FleetEvent[] = [];
    let dlqTook = true;
    for (const body of eventsOf(msg.body)) {
      const parsed = eventSchema.safeParse(body);
      if (parsed.success) {
        events.push(parsed.data as unknown as FleetEvent);
        continue;
      }
      // Retrying cannot fix a malformed event: it goes to the dead letter queue at once (its
      // message's other events are applied all the same).
      console.error("malformed fleet event sent to the DLQ", msg.id, parsed.error.issues.length, "issues");
      try {
        await env.EVENTS_DLQ.send(body, { contentType: "json" });
      } catch {
        dlqTook = false;
      }
    }
    if (!dlqTook) {
      // The DLQ refused: the whole message again later (its good events are idempotent).
      msg.retry({ delaySeconds: 60 });
      continue;
    }
    if (events.length === 0) msg.ack();
    else valid.push({ msg, events });
  }
  if (valid.length === 0) return;
  const all = valid.flatMap((v) => v.events);
  // The whole batch in one mirror: a launch's events are a few statements, not a D1 batch
  // each, and those the request already mirrored are skipped. If that fails, a message at a
  // time, so that one that cannot be applied holds back no other.
  try {
    // Those the log had already (the request mirrored them) are not written again; the
    // log's rows are read only for events of accounts with a subscription.
    await mirrorNew(db, all);
    await fanOut(
      db,
      env.WEBHOOKS,
      all.map((e) => e.id),
      new Map(all.map((e) => [e.id, eventAccount(e)])),
    );
    for (const { msg } of valid) msg.ack();
    return;
  } catch (err) {
    console.warn("mirroring a batch of fleet events failed; applying them a message at a time", err);
  }
  for (const { msg, events } of valid) {
    // Event by event: one that cannot be applied holds back none of the others in its message.
    const failed: FleetEvent[] = [];
    for (const event of events) {
      try {
        await mirror(db, [event]);
        await fanOut(db, env.WEBHOOKS, [event.id], new Map([[event.id, eventAccount(event)]]));
      } catch (err) {
        console.warn("mirroring a fleet event failed; retrying it", event.id, err);
        failed.push(event);
      }
    }
    if (failed.length === 0) {
      msg.ack();
      continue;
    }
    if (failed.length === events.length) {
      // Nothing of it applied (a single event, or all of a packed message's): it comes again.
      msg.retry({ delaySeconds: Math.min(300, 2 ** msg.attempts) });
      continue;
    }
    // A packed message whose other events applied: the failed ones go back alone, each with
    // its own retries and, at the end of them, the dead letter queue; the message is done.
    try {
      await env.EVENTS.sendBatch(failed.map((body) => ({ body, contentType: "json" as const })));
      msg.ack();
    } catch (err) {
      // Not taken: the whole message again (the events that applied are idempotent).
      console.warn("sending failed events back to the queue failed; retrying their message", err);
      msg.retry({ delaySeconds: Math.min(300, 2 ** msg.attempts) });
    }
  }
}
