// The events relay: host objects hand their outbox's events to one of a few relay objects
// instead of the queue, and a relay sends what many hosts handed it in few messages, each
// carrying many events. A host delivers a few events at a time (a launch's four VMs on it),
// one queue message each; a fleet placing 40,000 VMs would send as many messages, and the
// local queue broker keeps a timer per message and refuses past 10,000 waiting (README, Known
// limits). Queues count and bill by the message and each 64 KB of it, so packing pays there
// too. The relay is an outbox itself: a host drops its events only once a relay stored them
// (its call returns after the write), and the relay drops them only once the queue took the
// message; what fails waits for the relay's alarm, backing off as a host's outbox does.
import { DurableObject } from "cloudflare:workers";
import { OUTBOX_BATCH_BYTES, retryDelay } from "./outbox";
import { type Sql, sqlOver, utf8Length } from "./sql";

/** Relay objects: each host's events go through one, chosen by its id. */
export const RELAY_SHARDS = 4;
/** A packed message's events, at most: a consumer's batch of 100 messages stays a few thousand. */
export const PACK_EVENTS = 100;
/**
 * A packed message's bytes of events, at most: one 64 KB operation of Queues' billing, with
 * room for the envelope and the ~100 bytes of metadata a message carries (Cloudflare Queues,
 * "Limits": a message may be 128 KB, 1 KB being 1,000 bytes; "Pricing": each 64 KB written,
 * read or deleted is one operation).
 */
export const PACK_BYTES = 63_000;
/** How long a relay gathers events before it sends them, when fewer than a full send wait. */
export const RELAY_GATHER_MS = 1_000;
/** Events waiting that make a relay send at once rather than at the end of its gathering. */
const SEND_NOW_EVENTS = 3 * PACK_EVENTS;
/** Rows read at a time to pack. */
const READ_ROWS = 1_000;

/** A message the events consumer takes: several fleet events, oldest first. */
export interface PackedEvents {
  events: unknown[];
}

/**
 * Packs `rows` (oldest first) into messages of at most `maxEvents` events and `maxBytes` of
 * event bodies; an event larger than `maxBytes` goes alone. Answers each message's bodies and
 * the seq of its last row.
 */
export function pack<R extends { seq: number; body: string }>(
  rows: readonly R[],
  maxEvents = PACK_EVENTS,
  maxBytes = PACK_BYTES,
): { bodies: string[]; bytes: number; lastSeq: number }[] {
  const out: { bodies: string[]; bytes: number; lastSeq: number }[] = [];
  let cur: { bodies: string[]; bytes: number; lastSeq: number } | null = null;
  for (const r of rows) {
    const size = utf8Length(r.body) + 1;
    if (!cur || cur.bodies.length >= maxEvents || (cur.bodies.length > 0 && cur.bytes + size > maxBytes)) {
      cur = { bodies: [], bytes: 0, lastSeq: r.seq };
      out.push(cur);
    }
    cur.bodies.push(r.body);
    cur.bytes += size;
    cur.lastSeq = r.seq;
  }
  return out;
}

function shardOf(key: string): number {
  // FNV-1a: any even spread will do.
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % RELAY_SHARDS;
}

/** The name of relay `n` (0 to RELAY_SHARDS - 1). */
export function relayName(n: number): string {
  return `events-relay-${n}`;
}

/** The relay that takes `key`'s (a host's id) events. */
export function relayFor(env: Env, key: string): DurableObjectStub<EventRelayObject> {
  return env.EVENT_RELAY.getByName(relayName(shardOf(key)));
}

export class EventRelayObject extends DurableObject<Env> {
  private readonly sql: Sql;
  private delivering = false;
  private failures = 0;
  /** After a failure: no send before this (wall ms). */
  private nextTryAt = 0;
  /** The alarm this relay set and has not seen run (null: none). */
  private alarmAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = sqlOver(ctx.storage.sql);
    this
      .sql`CREATE TABLE IF NOT EXISTS relay_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)`;
  }

  /**
   * Stores events (a host's outbox's messages, each one event) to send them on; the queue's
   * own shape, so that an outbox hands them here as it would to the queue. Stored when this
   * returns.
   */
  async sendBatch(messages: readonly { body: unknown }[]): Promise<void> {
    this.ctx.storage.transactionSync(() => {
      for (const m of messages) this.sql`INSERT INTO relay_outbox (body) VALUES (${JSON.stringify(m.body)})`;
    });
    const now = Date.now();
    // The alarm is set either way: a delivery started here may end before what came in while it
    // ran is sent, and an object reset meanwhile would otherwise hold rows nothing wakes it for.
    await this.wakeAt(Math.max(now + RELAY_GATHER_MS, this.nextTryAt));
    if (now >= this.nextTryAt && this.pending() >= SEND_NOW_EVENTS) this.ctx.waitUntil(this.deliver());
  }

  /** Events stored and not yet sent. */
  pending(): number {
    return this.sql<{ n: number }>`SELECT count(*) AS n FROM relay_outbox`[0].n;
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    if (Date.now() < this.nextTryAt) await this.wakeAt(this.nextTryAt, true);
    // A delivery already under way: this one would return at once, so come back after it.
    else if (this.delivering) await this.wakeAt(Date.now() + RELAY_GATHER_MS);
    else await this.deliver();
  }

  /** Sets the alarm for `at`, unless one comes sooner (or `exactly`: there, whatever was set). */
  private async wakeAt(at: number, exactly = false): Promise<void> {
    if (!exactly && this.alarmAt !== null && this.alarmAt <= at) return;
    await this.ctx.storage.setAlarm(at);
    this.alarmAt = at;
  }

  /** Sends everything stored, packed, a few messages a send; what fails waits for the alarm. */
  async deliver(): Promise<void> {
    if (this.delivering) return;
    this.delivering = true;
    try {
      for (;;) {
        const rows = this.sql<{ seq: number; body: string }>`
          SELECT seq, body FROM relay_outbox ORDER BY seq LIMIT ${READ_ROWS}`;
        if (rows.length === 0) break;
        const messages = pack(rows);
        // A send of at most OUTBOX_BATCH_BYTES (Queues take 256 KB and 100 messages a send).
        let at = 0;
        while (at < messages.length) {
          const send = [messages[at]];
          let bytes = messages[at].bytes;
          while (
            at + send.length < messages.length &&
            bytes + messages[at + send.length].bytes <= OUTBOX_BATCH_BYTES
          ) {
            bytes += messages[at + send.length].bytes;
            send.push(messages[at + send.length]);
          }
          await this.env.EVENTS.sendBatch(
            send.map((m) => ({
              body: { events: JSON.parse(`[${m.bodies.join(",")}]`) } satisfies PackedEvents,
              contentType: "json" as const,
            })),
          );
          this.sql`DELETE FROM relay_outbox WHERE seq <= ${send[send.length - 1].lastSeq}`;
          this.failures = 0;
          this.nextTryAt = 0;
          at += send.length;
        }
      }
    } catch (err) {
      this.failures++;
      console.warn(`events relay delivery failed (${this.failures} in a row); the alarm will retry`, err);
      this.delivering = false;
      this.nextTryAt = Date.now() + retryDelay(this.failures);
      await this.wakeAt(this.nextTryAt, true);
      return;
    }
    this.delivering = false;
  }
}
