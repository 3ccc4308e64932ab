// The metrics queue consumer: validates each host's message, stores its samples and their
// rollups (fleet/metrics-store.ts; a redelivered message changes nothing), prunes what
// passed its retention, and evaluates the alarms on the metrics it brought.
import { z } from "zod";
import { database } from "../db/client";
import { evaluateAlarms } from "../fleet/alarms-evaluate";
import { readClock } from "../fleet/clock";
import { pruneMetrics, RAW_RETENTION_MS, storeStatements } from "../fleet/metrics-store";
import { DIMENSIONS, METRIC_NAMES, type MetricsMessage } from "../host/metrics-catalog";
import { simNow } from "../sim/clock";

const dims = z.partialRecord(z.enum(DIMENSIONS), z.string().max(64));
const messageSchema = z.object({
  hostId: z.string().max(64),
  time: z.number().int().nonnegative(),
  windowMs: z.number().nonnegative(),
  accountId: z.string().max(32).nullable(),
  dimensions: dims,
  values: z
    .array(z.object({ metric: z.enum(METRIC_NAMES), value: z.number(), dimensions: dims.optional() }))
    .max(200),
});

export async function consumeMetrics(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = database(env.DB);
  const now = simNow(await readClock(db, env), Date.now());
  const good: { msg: Message<unknown>; body: MetricsMessage }[] = [];
  for (const msg of batch.messages) {
    const parsed = messageSchema.safeParse(msg.body);
    if (!parsed.success) {
      console.error("malformed metrics message dropped", msg.id, parsed.error.issues.length, "issues");
      msg.ack();
      continue;
    }
    // A sample older than the samples kept could not be rolled up with its bucket's others.
    if (parsed.data.time < now - RAW_RETENTION_MS) {
      console.warn("metrics message older than the samples kept dropped", msg.id);
      msg.ack();
      continue;
    }
    good.push({ msg, body: parsed.data as MetricsMessage });
  }
  for (const { msg, body } of good) {
    try {
      const stmts = storeStatements(db, body);
      if (stmts.length > 0) await db.$client.batch(stmts);
      msg.ack();
    } catch (err) {
      console.warn("storing a metrics message failed; retrying", err);
      msg.retry({ delaySeconds: Math.min(300, 2 ** msg.attempts) });
    }
  }
  if (good.length === 0) return;
  try {
    await pruneMetrics(db, now);
    await evaluateAlarms(env, db, {
      metrics: [...new Set(good.flatMap((g) => g.body.values.map((v) => v.metric)))],
      accounts: [...new Set(good.map((g) => g.body.accountId).filter((a): a is string => a !== null))],
      now: Math.max(...good.map((g) => g.body.time)),
    });
  } catch (err) {
    // The samples are stored; alarms are evaluated again with the next batch.
    console.warn("pruning metrics or evaluating alarms failed", err);
  }
}
