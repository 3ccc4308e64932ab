// The webhooks queue consumer: one attempt per message, signed as Standard Webhooks asks,
// with the delivery's own id on every attempt. A non-2xx answer or a timeout retries through
// the queue's delayed retry, each delay four times the last with jitter, until the
// subscription's attempts run out; then the delivery is dead, and visible as such. A
// subscription that has failed every delivery for WEBHOOK_DISABLE_AFTER_SECONDS is disabled,
// with an event saying so.
import { eq } from "drizzle-orm";
import { z } from "zod";
import { type Db, database } from "../db/client";
import { subscriptions } from "../db/schema";
import { readClock } from "../fleet/clock";
import { RESPONSE_EXCERPT_BYTES, RESPONSE_EXCERPT_CHARS } from "../fleet/limits";
import { simNow } from "../sim/clock";
import { fanOut } from "./fanout";
import { type ControlEvent, logStatement } from "./log";
import { allowsLoopback, checkOutbound } from "./outbound";
import { openSecrets, signingSecrets } from "./secrets";
import { webhookHeaders } from "./signing";

const messageSchema = z.object({
  deliveryId: z.string().min(1).max(64),
  reason: z.enum(["event", "redeliver"]),
});

/** What a test (or another runtime) may replace: the network, the clock and the dice. */
export interface WebhookDeps {
  fetch: typeof fetch;
  now: () => number;
  random: () => number;
}

const defaults: WebhookDeps = { fetch: (...a) => fetch(...a), now: () => Date.now(), random: Math.random };

const num = (text: string | undefined, fallback: number) => {
  const n = Number(text);
  return Number.isFinite(n) && n > 0 ? n : fallback;
};

export function webhookSettings(env: Env) {
  return {
    maxAttempts: Math.floor(num(env.WEBHOOK_MAX_ATTEMPTS, 6)),
    retryBaseSeconds: num(env.WEBHOOK_RETRY_BASE_SECONDS, 5),
    timeoutMs: num(env.WEBHOOK_TIMEOUT_MS, 10_000),
    disableAfterMs: num(env.WEBHOOK_DISABLE_AFTER_SECONDS, 5 * 86_400) * 1000,
  };
}

/** The longest retry delay: 12 hours, within what Queues allow (REFERENCES.md, Cloudflare platform limits). */
const MAX_DELAY_SECONDS = 12 * 3600;

/** The delay before attempt `n + 1` after `n` failed: base × 4^(n-1), in [half, all] of it. */
export function retryDelaySeconds(base: number, failed: number, random: () => number): number {
  const full = Math.min(MAX_DELAY_SECONDS, base * 4 ** (failed - 1));
  return Math.max(1, Math.round(full * (0.5 + 0.5 * random())));
}

/**
 * The first `maxBytes` of an answer's body, decoded; the rest is never read (the stream is cancelled),
 * so a receiver that answers with an endless or huge body costs the consumer no more than this.
 */
export async function readPrefix(res: Response, maxBytes: number): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const kept = new Uint8Array(maxBytes);
  let got = 0;
  try {
    while (got < maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      const take = Math.min(value.byteLength, maxBytes - got);
      kept.set(value.subarray(0, take), got);
      got += take;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  // A character cut at the end decodes as U+FFFD, which the excerpt may carry.
  return new TextDecoder().decode(kept.subarray(0, got));
}

/** Control characters (newlines too) as spaces: what is kept of an answer is read as one line. */
const printable = (s: string) => s.replace(/\p{Cc}/gu, " ");

type Outcome = { ack: true } | { retryInSeconds: number };

export async function consumeWebhooks(
  batch: MessageBatch<unknown>,
  env: Env,
  deps: Partial<WebhookDeps> = {},
): Promise<void> {
  const d = { ...defaults, ...deps };
  const db = database(env.DB);
  // One at a time, in the order sent: a receiver sees a resource's events in simulated-time order.
  for (const msg of batch.messages) {
    const parsed = messageSchema.safeParse(msg.body);
    if (!parsed.success) {
      console.error("malformed webhook delivery message dropped", msg.id);
      msg.ack();
      continue;
    }
    try {
      const out = await attempt(env, db, parsed.data.deliveryId, d);
      if ("ack" in out) msg.ack();
      else msg.retry({ delaySeconds: out.retryInSeconds });
    } catch (err) {
      console.warn("a webhook delivery could not be attempted; retrying", err);
      msg.retry({ delaySeconds: Math.min(300, 2 ** msg.attempts) });
    }
  }
}

interface Claimed {
  id: string;
  subscription_id: string;
  account_id: string;
  body: string;
  attempts: number;
  round_start: number;
}

async function attempt(env: Env, db: Db, deliveryId: string, d: WebhookDeps): Promise<Outcome> {
  const cfg = webhookSettings(env);
  const d1 = db.$client;
  const now = d.now();
  const leaseUntil = now + cfg.timeoutMs + 30_000;
  // The lease: of two copies of one message (queues deliver at least once), one attempts. A lease
  // expires, so a delivery whose attempt died without a word (the isolate gone) is taken up again.
  const claimed = await d1
    .prepare(
      `UPDATE deliveries SET lease_until = ?1 WHERE id = ?2 AND status = 'pending' AND (lease_until IS NULL OR lease_until < ?3) RETURNING *`,
    )
    .bind(leaseUntil, deliveryId, now)
    .first<Claimed>();
  if (!claimed) {
    // Still pending under another attempt's lease: this copy comes back once the lease has run out,
    // rather than being dropped, in case that attempt never finishes. Delivered or dead: done.
    const row = await d1
      .prepare("SELECT status, lease_until FROM deliveries WHERE id = ?")
      .bind(deliveryId)
      .first<{ status: string; lease_until: number | null }>();
    if (row?.status === "pending" && row.lease_until !== null && row.lease_until >= now) {
      return { retryInSeconds: Math.max(1, Math.ceil((row.lease_until - now) / 1000) + 1) };
    }
    return { ack: true };
  }
  try {
    return await attemptClaimed(env, db, claimed, now, d);
  } catch (err) {
    // The attempt failed before it recorded an outcome: give the lease back, so the queue's retry
    // of this message claims it at once (had this not run, the lease would expire on its own).
    await d1
      .prepare(
        "UPDATE deliveries SET lease_until = NULL WHERE id = ? AND status = 'pending' AND lease_until = ?",
      )
      .bind(deliveryId, leaseUntil)
      .run()
      .catch((e) => console.warn("releasing a webhook delivery's lease failed; it will expire", e));
    throw err;
  }
}

async function attemptClaimed(
  env: Env,
  db: Db,
  claimed: Claimed,
  now: number,
  d: WebhookDeps,
): Promise<Outcome> {
  const cfg = webhookSettings(env);
  const d1 = db.$client;
  const deliveryId = claimed.id;
  const [sub] = await db.select().from(subscriptions).where(eq(subscriptions.id, claimed.subscription_id));
  const n = claimed.attempts + 1;
  const record = (r: {
    status: number | null;
    latencyMs: number;
    excerpt: string | null;
    error: string | null;
  }) =>
    d1
      .prepare(
        "INSERT INTO delivery_attempts (delivery_id, attempt, at, status_code, latency_ms, excerpt, error) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
      )
      .bind(deliveryId, n, now, r.status, r.latencyMs, r.excerpt, r.error);
  const finish = (status: "delivered" | "dead" | "pending", last: number | null, error: string | null) =>
    d1
      .prepare(
        "UPDATE deliveries SET status = ?, attempts = ?, last_status = ?, last_error = ?, lease_until = NULL, updated_at = ? WHERE id = ?",
      )
      .bind(status, n, last, error, now, deliveryId);

  if (sub?.enabled !== 1) {
    const why = sub ? "the subscription is disabled" : "the subscription was deleted";
    await d1.batch([
      record({ status: null, latencyMs: 0, excerpt: null, error: why }),
      finish("dead", null, why),
    ]);
    return { ack: true };
  }
  const verdict = checkOutbound(sub.url, allowsLoopback(env));
  if (verdict.refused) {
    const why = `url ${verdict.reason}`;
    await d1.batch([
      record({ status: null, latencyMs: 0, excerpt: null, error: why }),
      finish("dead", null, why),
    ]);
    return { ack: true };
  }

  const secrets = signingSecrets(await openSecrets(env, sub.secrets), now);
  const headers = await webhookHeaders(secrets, deliveryId, Math.floor(now / 1000), claimed.body);
  const started = Date.now();
  let status: number | null = null;
  let excerpt: string | null = null;
  let error: string | null = null;
  try {
    const res = await d.fetch(sub.url, {
      method: "POST",
      headers,
      body: claimed.body,
      redirect: "manual",
      signal: AbortSignal.timeout(cfg.timeoutMs),
    });
    status = res.status;
    excerpt = printable((await readPrefix(res, RESPONSE_EXCERPT_BYTES)).slice(0, RESPONSE_EXCERPT_CHARS));
  } catch (err) {
    const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
    error = timedOut
      ? `no answer within ${cfg.timeoutMs} ms`
      : printable(`request failed: ${String(err).slice(0, 200)}`);
  }
  const latencyMs = Date.now() - started;
  const ok = status !== null && status >= 200 && status < 300;
  const lastError = ok ? null : (error ?? `answered ${status}`);
  const exhausted = n - claimed.round_start >= cfg.maxAttempts;
  const stmts = [
    record({ status, latencyMs, excerpt, error }),
    finish(ok ? "delivered" : exhausted ? "dead" : "pending", status, lastError),
  ];
  if (ok) {
    stmts.push(
      d1
        .prepare("UPDATE subscriptions SET failing_since = NULL WHERE id = ? AND failing_since IS NOT NULL")
        .bind(sub.id),
    );
    await d1.batch(stmts);
    return { ack: true };
  }
  const failingSince = sub.failingSince ?? now;
  const disable = now - failingSince >= cfg.disableAfterMs;
  stmts.push(
    d1
      .prepare(
        "UPDATE subscriptions SET failing_since = COALESCE(failing_since, ?1), enabled = CASE WHEN ?2 THEN 0 ELSE enabled END, disabled_reason = CASE WHEN ?2 THEN ?3 ELSE disabled_reason END WHERE id = ?4",
      )
      .bind(
        now,
        disable ? 1 : 0,
        disable ? `every delivery failed since ${new Date(failingSince).toISOString()}` : null,
        sub.id,
      ),
  );
  let disabledEvent: ControlEvent | null = null;
  if (disable && sub.enabled === 1) {
    disabledEvent = {
      id: crypto.randomUUID(),
      type: "subscription.disabled",
      accountId: sub.accountId,
      time: await simTimeOf(env, db),
      resourceId: sub.id,
      previousState: "enabled",
      state: "disabled",
      data: {
        subscriptionId: sub.id,
        url: sub.url,
        reason: "failing",
        failingSince: new Date(failingSince).toISOString(),
      },
    };
    stmts.push(logStatement(db, disabledEvent));
  }
  await d1.batch(stmts);
  if (disabledEvent) {
    // The other subscriptions of the account hear of it; this one is disabled.
    await fanOut(db, env.WEBHOOKS, [disabledEvent.id]).catch((err) =>
      console.warn("fanning out a subscription.disabled event failed", err),
    );
  }
  if (exhausted || disable) return { ack: true };
  return { retryInSeconds: retryDelaySeconds(cfg.retryBaseSeconds, n - claimed.round_start, d.random) };
}

async function simTimeOf(env: Env, db: Db): Promise<number> {
  return simNow(await readClock(db, env), Date.now());
}
