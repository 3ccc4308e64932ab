// The transactional outbox: a host's events are written in the same SQLite transaction as
// the change that made them, and delivered to the events queue afterwards, at least once.
import type { FleetEvent } from "../sim/records";
import { type Sql, utf8Length } from "./sql";

/**
 * How soon the alarm tries a delivery again: after rows were added while one ran, and after a
 * first failure. Each further failure in a row doubles the wait, up to OUTBOX_RETRY_MAX_MS, and
 * the wait is jittered (a random point in its upper half), so that thousands of hosts refused at
 * once by a saturated queue do not all come back in the same second; a delivery that goes
 * through starts again from OUTBOX_RETRY_MS.
 */
export const OUTBOX_RETRY_MS = 5_000;
export const OUTBOX_RETRY_MAX_MS = 5 * 60_000;

/** The wait before the next try after `failures` failed deliveries in a row (`random` in [0, 1)). */
export function retryDelay(failures: number, random: number = Math.random()): number {
  if (failures <= 0) return OUTBOX_RETRY_MS;
  const full = Math.min(OUTBOX_RETRY_MAX_MS, OUTBOX_RETRY_MS * 2 ** Math.min(failures - 1, 20));
  return Math.round(full / 2 + (full / 2) * random);
}
/** Queues take at most 100 messages in one sendBatch. */
export const OUTBOX_BATCH = 100;
// Queues take batches of up to 256 KB; one event (tags included) stays well under 64 KB.
export const OUTBOX_BATCH_BYTES = 192 * 1024;

type Row = { seq: number; body: string };

/** Where an outbox delivers: the events queue, or a relay that takes the queue's shape (event-relay.ts). */
export interface EventSink {
  sendBatch(messages: { body: unknown; contentType?: QueueContentType }[]): Promise<unknown>;
}

/**
 * The rows from the front of `rows` that fit in `maxBytes` of bodies; always at least
 * one, so an event larger than the cap still goes out, alone.
 */
export function takeBatch<R extends { body: string }>(rows: readonly R[], maxBytes: number): R[] {
  const batch: R[] = [];
  let bytes = 0;
  for (const r of rows) {
    const size = utf8Length(r.body);
    if (batch.length > 0 && bytes + size > maxBytes) break;
    batch.push(r);
    bytes += size;
  }
  return batch;
}

export class Outbox {
  private delivering = false;
  /** Failed deliveries in a row (kept in memory: an object opened again starts from none). */
  private failures = 0;
  private nextTryAt: number | null = null;
  /**
   * Until when delivery waits because the caller that made these events mirrors them itself and
   * then confirms (`drop`); past it, they go as any other (the caller failed or went away).
   */
  private heldUntil = 0;
  /**
   * Rows in the outbox as last counted; null once rows were added or taken (a transaction
   * that added rows may yet roll back), so only a call that changed nothing skips the count.
   */
  private count: number | null = null;

  constructor(
    private readonly sql: Sql,
    private readonly queue: EventSink,
  ) {}

  /**
   * Call inside the transaction that stores the change the events describe. Answers each
   * event's size in bytes as stored, so that a caller can budget them without encoding again.
   */
  append(events: readonly FleetEvent[]): number[] {
    const sizes = events.map((e) => {
      const body = JSON.stringify(e);
      this.sql`INSERT INTO outbox (id, body) VALUES (${e.id}, ${body})`;
      return utf8Length(body);
    });
    if (events.length > 0) this.count = null;
    return sizes;
  }

  pending(): number {
    this.count = this.sql<{ n: number }>`SELECT count(*) AS n FROM outbox`[0].n;
    return this.count;
  }

  /** Whether events wait: counted again only after this outbox added or sent some. */
  hasPending(): boolean {
    return (this.count ?? this.pending()) > 0;
  }

  /** Whether a delivery is under way now. */
  get busy(): boolean {
    return this.delivering;
  }

  /** Holds delivery until `until` (wall ms), for a caller that will confirm with `drop`. */
  hold(until: number): void {
    this.heldUntil = Math.max(this.heldUntil, until);
  }

  /** Whether delivery is held now. */
  held(now: number = Date.now()): boolean {
    return now < this.heldUntil;
  }

  /**
   * The events `ids` reached D1 and the webhooks another way (the caller mirrored them and
   * fanned them out): they leave the outbox unsent, and the hold ends.
   */
  drop(ids: readonly string[]): void {
    for (let at = 0; at < ids.length; at += 90) {
      const part = JSON.stringify(ids.slice(at, at + 90));
      this.sql`DELETE FROM outbox WHERE id IN (SELECT value FROM json_each(${part}))`;
    }
    this.count = null;
    this.heldUntil = 0;
  }

  /** When the alarm should try the pending events next (wall ms). */
  nextAttemptAt(now: number = Date.now()): number {
    if (this.held(now)) return this.heldUntil;
    return this.nextTryAt ?? now + OUTBOX_RETRY_MS;
  }

  /** After a transaction was rolled back: the next `pending` counts the rows again. */
  forget(): void {
    this.count = null;
  }

  /**
   * Sends what is pending, oldest first, in batches capped in messages and in bytes, and
   * deletes each batch once the queue took it. What fails stays for the alarm to retry.
   * One delivery at a time: a second call while one runs returns at once; none while held,
   * nor before the backoff after a failure has passed (the alarm comes then).
   */
  async deliver(now: number = Date.now()): Promise<void> {
    if (this.delivering || this.held(now)) return;
    if (this.nextTryAt !== null && now < this.nextTryAt) return;
    this.delivering = true;
    try {
      while (this.hasPending()) {
        const rows = this.sql<Row>`SELECT seq, body FROM outbox ORDER BY seq LIMIT ${OUTBOX_BATCH}`;
        if (rows.length === 0) {
          this.count = 0;
          return;
        }
        const batch = takeBatch(rows, OUTBOX_BATCH_BYTES);
        await this.queue.sendBatch(batch.map((r) => ({ body: JSON.parse(r.body), contentType: "json" })));
        this.sql`DELETE FROM outbox WHERE seq <= ${batch[batch.length - 1].seq}`;
        this.count = null;
        this.failures = 0;
        this.nextTryAt = null;
      }
    } catch (err) {
      this.failures++;
      this.nextTryAt = now + retryDelay(this.failures);
      console.warn(`host outbox delivery failed (${this.failures} in a row); the alarm will retry`, err);
    } finally {
      this.delivering = false;
    }
  }
}
