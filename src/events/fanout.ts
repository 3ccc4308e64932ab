// From the event log to webhook deliveries: each logged event, for each enabled subscription
// of its account that wants its type and resource, one delivery row (once: its id is made
// from the subscription's and the event's) and one message on the webhooks queue.
import { inArray, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { deliveries, events, subscriptions } from "../db/schema";
import { IN_LIST } from "../fleet/mirror";
import { envelopeOf, type LoggedEvent } from "./envelope";
import { matchesType } from "./types";

/** A webhook delivery message: the row holds the rest. */
export interface DeliveryMessage {
  deliveryId: string;
  /** Why it was sent: a new event, a retry, or a redelivery someone asked for. */
  reason: "event" | "redeliver";
}

/** The webhook-id of an event's delivery to a subscription: `msg_` + 32 hex of SHA-256. */
export async function deliveryIdOf(subscriptionId: string, eventId: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(`${subscriptionId}:${eventId}`),
  );
  const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `msg_${hex.slice(0, 32)}`;
}

const INSERT_DELIVERIES = `INSERT INTO deliveries (id, subscription_id, account_id, event_id, event_type, event_time, event_seq, body, status, attempts, round_start, created_at, updated_at)
  SELECT json_extract(j.value, '$.id'), json_extract(j.value, '$.subscriptionId'), json_extract(j.value, '$.accountId'),
    json_extract(j.value, '$.eventId'), json_extract(j.value, '$.eventType'), json_extract(j.value, '$.eventTime'),
    json_extract(j.value, '$.eventSeq'), json_extract(j.value, '$.body'), 'pending', 0, 0, ?2, ?2
  FROM json_each(?1) AS j WHERE true ON CONFLICT (id) DO NOTHING`;

/**
 * Makes the deliveries of the logged events `eventIds` and queues those not attempted yet.
 * Running it again for the same events queues again only what no attempt has taken up.
 * `accounts`: the events' accounts, when the caller has them (the events themselves do): the
 * log is then read only for the events of accounts that have a subscription, and not at all
 * when none has, as for most events.
 */
export async function fanOut(
  db: Db,
  queue: Queue,
  eventIds: readonly string[],
  accounts?: ReadonlyMap<string, string | null>,
): Promise<number> {
  const ids = [...new Set(eventIds)];
  const logged: LoggedEvent[] = [];
  const readLog = async (want: readonly string[]) => {
    for (let at = 0; at < want.length; at += IN_LIST) {
      logged.push(
        ...(await db
          .select()
          .from(events)
          .where(inArray(events.id, want.slice(at, at + IN_LIST)))),
      );
    }
  };
  if (!accounts) await readLog(ids);
  const owners = accounts ? ids.map((id) => accounts.get(id) ?? null) : logged.map((e) => e.accountId);
  const subs = await subscriptionsOf(db, [...new Set(owners.filter((a): a is string => a !== null))]);
  if (subs.length === 0) return 0;
  if (accounts) {
    const subscribed = new Set(subs.map((s) => s.accountId));
    await readLog(ids.filter((id) => subscribed.has(accounts.get(id) ?? "")));
  }
  const rows: Record<string, unknown>[] = [];
  const now = Date.now();
  for (const e of [...logged].sort((a, b) => a.time - b.time || a.seq - b.seq)) {
    for (const s of subs) {
      if (s.accountId !== e.accountId) continue;
      if (!matchesType(e.type, JSON.parse(s.eventTypes))) continue;
      if (s.resourceIds !== null) {
        const wanted = new Set<string>(JSON.parse(s.resourceIds));
        if (![e.instanceId, e.hostId, e.resourceId].some((r) => r !== null && wanted.has(r))) continue;
      }
      rows.push({
        id: await deliveryIdOf(s.id, e.id),
        subscriptionId: s.id,
        accountId: s.accountId,
        eventId: e.id,
        eventType: e.type,
        eventTime: e.time,
        eventSeq: e.seq,
        body: JSON.stringify(envelopeOf(e)),
      });
    }
  }
  if (rows.length === 0) return 0;
  const d1 = db.$client;
  // A few dozen rows to a statement keep each well under D1's statement size.
  const stmts: D1PreparedStatement[] = [];
  for (let at = 0; at < rows.length; at += 50) {
    stmts.push(d1.prepare(INSERT_DELIVERIES).bind(JSON.stringify(rows.slice(at, at + 50)), now));
  }
  await d1.batch(stmts);
  const fresh = new Set<string>();
  const wanted = rows.map((r) => r.id as string);
  for (let at = 0; at < wanted.length; at += IN_LIST) {
    const part = await db
      .select({ id: deliveries.id })
      .from(deliveries)
      .where(
        sql`${inArray(deliveries.id, wanted.slice(at, at + IN_LIST))} AND ${deliveries.status} = 'pending' AND ${deliveries.attempts} = 0 AND ${deliveries.leaseUntil} IS NULL`,
      );
    for (const r of part) fresh.add(r.id);
  }
  // In the order of the events' simulated time, which the consumer keeps within a batch.
  const messages = wanted
    .filter((id) => fresh.has(id))
    .map((deliveryId) => ({
      body: { deliveryId, reason: "event" } satisfies DeliveryMessage,
      contentType: "json" as const,
    }));
  for (let at = 0; at < messages.length; at += 100) await queue.sendBatch(messages.slice(at, at + 100));
  return messages.length;
}

/** The enabled subscriptions of `accounts`. */
async function subscriptionsOf(db: Db, accounts: readonly string[]) {
  const subs: { id: string; accountId: string; eventTypes: string; resourceIds: string | null }[] = [];
  for (let at = 0; at < accounts.length; at += IN_LIST) {
    subs.push(
      ...(await db
        .select({
          id: subscriptions.id,
          accountId: subscriptions.accountId,
          eventTypes: subscriptions.eventTypes,
          resourceIds: subscriptions.resourceIds,
        })
        .from(subscriptions)
        .where(
          sql`${subscriptions.enabled} = 1 AND ${inArray(subscriptions.accountId, accounts.slice(at, at + IN_LIST))}`,
        )),
    );
  }
  return subs;
}
