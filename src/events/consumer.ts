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

export async function consumeEvents(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = database(env.DB);
  const valid: { msg: Message<unknown>; event: FleetEvent }[] = [];
  for (const msg of batch.messages) {
    const parsed = eventSchema.safeParse(msg.body);
    if (!parsed.success) {
      // Retrying cannot fix a malformed message: it goes to the dead letter queue at once.
      console.error("malformed fleet event sent to the DLQ", msg.id, parsed.error.issues.length, "issues");
      try {
        await env.EVENTS_DLQ.send(msg.body, { contentType: "json" });
        msg.ack();
      } catch {
        msg.retry({ delaySeconds: 60 });
      }
      continue;
    }
    valid.push({ msg, event: parsed.data as unknown as FleetEvent });
  }
  if (valid.length === 0) return;
  // The whole batch in one mirror: a launch's events are a few statements, not a D1 batch
  // each, and those the request already mirrored are skipped. If that fails, one at a
  // time, so that one that cannot be applied holds back no other.
  try {
    // Those the log had already (the request mirrored them) are not written again; the
    // log's rows are read only for events of accounts with a subscription.
    await mirrorNew(
      db,
      valid.map((v) => v.event),
    );
    await fanOut(
      db,
      env.WEBHOOKS,
      valid.map((v) => v.event.id),
      new Map(valid.map((v) => [v.event.id, eventAccount(v.event)])),
    );
    for (const { msg } of valid) msg.ack();
    return;
  } catch (err) {
    console.warn("mirroring a batch of fleet events failed; applying them one at a time", err);
  }
  for (const { msg, event } of valid) {
    try {
      await mirror(db, [event]);
      await fanOut(db, env.WEBHOOKS, [event.id]);
      msg.ack();
    } catch (err) {
      console.warn("mirroring a fleet event failed; retrying", err);
      msg.retry({ delaySeconds: Math.min(300, 2 ** msg.attempts) });
    }
  }
}
