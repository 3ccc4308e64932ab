// The transactional outbox: a host's events are written in the same SQLite transaction as
// the change that made them, and delivered to the events queue afterwards, at least once.
import type { FleetEvent } from "../sim/records";
import type { Sql } from "./sql";

/** How soon the alarm retries a delivery that failed. */
export const OUTBOX_RETRY_MS = 5_000;
/** Queues take at most 100 messages in one sendBatch. */
export const OUTBOX_BATCH = 100;
// Queues take batches of up to 256 KB; one event (tags included) stays well under 64 KB.
export const OUTBOX_BATCH_BYTES = 192 * 1024;

const utf8 = new TextEncoder();

type Row = { seq: number; body: string };

/**
 * The rows from the front of `rows` that fit in `maxBytes` of bodies; always at least
 * one, so an event larger than the cap still goes out, alone.
 */
export function takeBatch<R extends { body: string }>(rows: readonly R[], maxBytes: number): R[] {
  const batch: R[] = [];
  let bytes = 0;
  for (const r of rows) {
    const size = utf8.encode(r.body).length;
    if (batch.length > 0 && bytes + size > maxBytes) break;
    batch.push(r);
    bytes += size;
  }
  return batch;
}

export class Outbox {
  private delivering = false;
  /**
   * Rows in the outbox as last counted; null once rows were added or taken (a transaction
   * that added rows may yet roll back), so only a call that changed nothing skips the count.
   */
  private count: number | null = null;

  constructor(
    private readonly sql: Sql,
    private readonly queue: Queue,
  ) {}

  /**
   * Call inside the transaction that stores the change the events describe. Answers each
   * event's size in bytes as stored, so that a caller can budget them without encoding again.
   */
  append(events: readonly FleetEvent[]): number[] {
    const sizes = events.map((e) => {
      const body = JSON.stringify(e);
      this.sql`INSERT INTO outbox (id, body) VALUES (${e.id}, ${body})`;
      return utf8.encode(body).length;
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

  /** After a transaction was rolled back: the next `pending` counts the rows again. */
  forget(): void {
    this.count = null;
  }

  /**
   * Sends what is pending, oldest first, in batches capped in messages and in bytes, and
   * deletes each batch once the queue took it. What fails stays for the alarm to retry.
   * One delivery at a time: a second call while one runs returns at once.
   */
  async deliver(): Promise<void> {
    if (this.delivering) return;
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
      }
    } catch (err) {
      console.warn("host outbox delivery failed; the alarm will retry", err);
    } finally {
      this.delivering = false;
    }
  }
}
