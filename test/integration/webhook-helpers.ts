// Shared steps of the webhook tests: a tenant's subscription, an event logged for it, the
// deliveries fan-out makes (on a queue the test holds), and one run of the webhooks consumer
// with a receiver the test plays.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { database } from "../../src/db/client";
import { fanOut } from "../../src/events/fanout";
import { type ControlEvent, logStatement } from "../../src/events/log";
import { consumeWebhooks, type WebhookDeps } from "../../src/events/webhook-consumer";
import { bearer, call, type Tenant } from "./helpers";

export interface Received {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** A queue that keeps what is sent to it, for the test to hand to a consumer. */
export function heldQueue() {
  const sent: unknown[] = [];
  const queue = {
    send: async (body: unknown) => {
      sent.push(body);
    },
    sendBatch: async (msgs: Iterable<{ body: unknown }>) => {
      for (const m of msgs) sent.push(m.body);
    },
  } as unknown as Queue;
  return { queue, sent };
}

export async function subscribe(t: Tenant, body: Record<string, unknown>) {
  const res = await call<{ subscription: { subscriptionId: string }; secret: string }>(
    "POST",
    "/v1/subscriptions",
    body,
    bearer(t.apiKey),
  );
  if (res.status !== 201) throw new Error(`subscribe failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.subscription.subscriptionId, secret: res.body.secret };
}

let clock = 1_000_000;
/** Logs an event about an alarm of `accountId` (a real log row), as the alarm evaluation does. */
export async function logEvent(accountId: string, resourceId = "alarm-0123456789abcdef0"): Promise<string> {
  const e: ControlEvent = {
    id: crypto.randomUUID(),
    type: "alarm.state-changed",
    accountId,
    time: clock++,
    resourceId,
    previousState: "OK",
    state: "ALARM",
    data: {
      alarmId: resourceId,
      alarmName: "cpu-high",
      metricName: "CPUUtilization",
      dimensions: {},
      previousState: "OK",
      state: "ALARM",
      reason: "test",
      threshold: 50,
      comparisonOperator: "GreaterThanThreshold",
    },
  };
  await logStatement(database(env.DB), e).run();
  return e.id;
}

/** The delivery messages fan-out makes for `eventIds`, kept rather than queued. */
export async function fanned(eventIds: string[]): Promise<{ deliveryId: string; reason: string }[]> {
  const { queue, sent } = heldQueue();
  await fanOut(database(env.DB), queue, eventIds);
  return sent as { deliveryId: string; reason: string }[];
}

/** A receiver: answers each request with what `answer` returns, and keeps what it got. */
export function receiver(answer: (r: Received, n: number) => Response | Promise<Response>) {
  const got: Received[] = [];
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    const r = { url: String(input), headers, body: String(init?.body) };
    got.push(r);
    return answer(r, got.length);
  }) as typeof globalThis.fetch;
  return { fetch, got };
}

/** One run of the webhooks consumer over `bodies`, each on its `attempts`th delivery. */
export async function runConsumer(
  bodies: unknown[],
  deps: Partial<WebhookDeps>,
  settings: Partial<
    Record<"WEBHOOK_MAX_ATTEMPTS" | "WEBHOOK_TIMEOUT_MS" | "WEBHOOK_DISABLE_AFTER_SECONDS", string>
  > = {},
  attempts = 1,
) {
  const batch = createMessageBatch<unknown>(
    "hyperfleet-webhooks",
    bodies.map((body, i) => ({ id: `m${i}-${crypto.randomUUID()}`, timestamp: new Date(), attempts, body })),
  );
  const ctx = createExecutionContext();
  const held = heldQueue();
  await consumeWebhooks(batch, { ...env, ...settings, WEBHOOKS: held.queue } as Env, deps);
  return { result: await getQueueResult(batch, ctx), queued: held.sent };
}

export async function deliveryRow(id: string) {
  return env.DB.prepare("SELECT status, attempts, round_start FROM deliveries WHERE id = ?")
    .bind(id)
    .first<{ status: string; attempts: number; round_start: number }>();
}
