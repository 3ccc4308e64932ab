// A subscription's deliveries, each with its attempts, and redelivery: the same delivery
// (the same webhook-id and body) queued again for a new round of attempts.
import { and, asc, eq, gt, inArray } from "drizzle-orm";
import { deliveries, deliveryAttempts } from "../db/schema";
import type { DeliveryMessage } from "../events/fanout";
import type { EventType } from "../events/types";
import type { Fleet } from "./context";
import { ApiError } from "./errors";
import { pageOf } from "./paging";
import { getSubscription } from "./subscriptions";

const iso = (ms: number) => new Date(ms).toISOString();
/** The attempts a listing shows of each delivery: the latest. */
const ATTEMPTS_SHOWN = 64;

type Row = typeof deliveries.$inferSelect;

async function withAttempts(fleet: Fleet, rows: Row[]) {
  const ids = rows.map((r) => r.id);
  const attempts =
    ids.length === 0
      ? []
      : await fleet.db
          .select()
          .from(deliveryAttempts)
          .where(inArray(deliveryAttempts.deliveryId, ids))
          .orderBy(asc(deliveryAttempts.deliveryId), asc(deliveryAttempts.attempt));
  const by = new Map<string, typeof attempts>();
  for (const a of attempts) by.set(a.deliveryId, [...(by.get(a.deliveryId) ?? []), a]);
  return rows.map((r) => ({
    deliveryId: r.id,
    eventId: r.eventId,
    eventType: r.eventType as EventType,
    status: r.status as "pending" | "delivered" | "dead",
    attempts: (by.get(r.id) ?? []).slice(-ATTEMPTS_SHOWN).map((a) => ({
      attempt: a.attempt,
      at: iso(a.at),
      statusCode: a.statusCode,
      latencyMs: a.latencyMs,
      responseExcerpt: a.excerpt,
      error: a.error,
    })),
    createdAt: iso(r.createdAt),
    updatedAt: iso(r.updatedAt),
  }));
}

/** In order of id, a page at a time; `status` keeps those in one state (dead ones, say). */
export async function listDeliveries(
  fleet: Fleet,
  subscriptionId: string,
  f: { status?: string; cursor?: string; limit: number },
) {
  await getSubscription(fleet, subscriptionId);
  const rows = await fleet.db
    .select()
    .from(deliveries)
    .where(
      and(
        eq(deliveries.subscriptionId, subscriptionId),
        f.status ? eq(deliveries.status, f.status) : undefined,
        f.cursor ? gt(deliveries.id, f.cursor) : undefined,
      ),
    )
    .orderBy(asc(deliveries.id))
    .limit(f.limit + 1);
  const { page, nextCursor } = pageOf(rows, f.limit, (r) => r.id);
  return { deliveries: await withAttempts(fleet, page), nextCursor };
}

export async function redeliver(fleet: Fleet, subscriptionId: string, deliveryId: string) {
  await getSubscription(fleet, subscriptionId);
  const [row] = await fleet.db
    .select()
    .from(deliveries)
    .where(and(eq(deliveries.id, deliveryId), eq(deliveries.subscriptionId, subscriptionId)));
  if (!row) {
    throw new ApiError(404, "InvalidDeliveryID.NotFound", `The delivery ID '${deliveryId}' does not exist`, {
      deliveryId,
    });
  }
  // A new round: its attempts count from here; one in flight is let finish first.
  const now = Date.now();
  const res = await fleet.db.$client
    .prepare(
      "UPDATE deliveries SET status = 'pending', round_start = attempts, updated_at = ? WHERE id = ? AND (lease_until IS NULL OR lease_until < ?)",
    )
    .bind(now, row.id, now)
    .run();
  if (res.meta.changes !== 1) {
    throw new ApiError(
      409,
      "DeliveryInProgress",
      `The delivery '${deliveryId}' is being attempted now; ask again shortly`,
    );
  }
  const message: DeliveryMessage = { deliveryId: row.id, reason: "redeliver" };
  await fleet.env.WEBHOOKS.send(message, { contentType: "json" });
  const [again] = await fleet.db.select().from(deliveries).where(eq(deliveries.id, row.id));
  return (await withAttempts(fleet, [again]))[0];
}
