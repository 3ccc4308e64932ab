// Webhook subscriptions and deliveries: Standard Webhooks signatures checked by an
// independent implementation (the standardwebhooks package), retries that keep the
// webhook-id, dead letters, redelivery, rotation, SSRF refusals, sealed secrets, and
// deliveries that carry only the subscriber's own events.
import { createMessageBatch } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { consumeEvents } from "../../src/events/consumer";
import { checkOutbound } from "../../src/events/outbound";
import { openSecrets } from "../../src/events/secrets";
import { retryDelaySeconds } from "../../src/events/webhook-consumer";
import { Fleet } from "../../src/fleet/context";
import { redeliver } from "../../src/fleet/subscriptions-deliveries";
import {
  ADMIN_KEY,
  addHosts,
  advance,
  bearer,
  call,
  freshZone,
  launch,
  newTenant,
  type Problem,
} from "./helpers";
import {
  deliveryRow,
  fanned,
  heldQueue,
  logEvent,
  receiver,
  runConsumer,
  subscribe,
} from "./webhook-helpers";

const URL_OK = "https://hooks.example.com/hyperfleet";
const ok = () => new Response("thanks", { status: 200 });

describe("a subscription", () => {
  it("shows its signing secret once, seals it at rest, and is another account's 404", async () => {
    const t = await newTenant("subs");
    const other = await newTenant("other");
    const { id, secret } = await subscribe(t, {
      url: URL_OK,
      eventTypes: ["instance.*", "alarm.state-changed"],
    });
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const got = await call<Record<string, unknown>>(
      "GET",
      `/v1/subscriptions/${id}`,
      undefined,
      bearer(t.apiKey),
    );
    expect(got.status).toBe(200);
    expect(JSON.stringify(got.body)).not.toContain(secret.slice(6));
    expect(got.body.eventTypes).toEqual(["instance.*", "alarm.state-changed"]);
    // At rest: neither the secret nor its bytes in the row; the Worker's key opens it.
    const row = await env.DB.prepare("SELECT secrets FROM subscriptions WHERE id = ?")
      .bind(id)
      .first<{ secrets: string }>();
    expect(row?.secrets).not.toContain(secret.slice(6, 30));
    expect((await openSecrets(env, row?.secrets ?? "")).current).toBe(secret);
    expect((await call("GET", `/v1/subscriptions/${id}`, undefined, bearer(other.apiKey))).status).toBe(404);
    expect((await call("DELETE", `/v1/subscriptions/${id}`, undefined, bearer(other.apiKey))).status).toBe(
      404,
    );
    const list = await call<{ subscriptions: unknown[] }>(
      "GET",
      "/v1/subscriptions",
      undefined,
      bearer(other.apiKey),
    );
    expect(list.body.subscriptions).toEqual([]);
    // The admin reads it, and makes none.
    expect((await call("GET", `/v1/subscriptions/${id}`, undefined, bearer(ADMIN_KEY))).status).toBe(200);
    expect(
      (await call("POST", "/v1/subscriptions", { url: URL_OK, eventTypes: ["*"] }, bearer(ADMIN_KEY))).status,
    ).toBe(403);
  });

  it("refuses loopback, private, link-local and metadata receivers and other schemes, naming the field", async () => {
    const t = await newTenant("ssrf");
    for (const url of [
      "http://127.0.0.1:8080/hook",
      "http://localhost/hook",
      "http://[::1]/hook",
      "http://10.1.2.3/hook",
      "http://192.168.0.10/hook",
      "http://172.20.0.1/hook",
      "http://169.254.169.254/latest/meta-data/",
      "http://[fd00:ec2::254]/",
      "http://[fe80::1]/",
      "http://[::ffff:127.0.0.1]/",
      "http://2130706433/",
      "http://0x7f.0.0.1/",
      "http://metadata.google.internal/",
      "https://user:pass@hooks.example.com/",
    ]) {
      const res = await call<Problem>(
        "POST",
        "/v1/subscriptions",
        { url, eventTypes: ["*"] },
        bearer(t.apiKey),
      );
      expect(res.status, url).toBe(400);
      expect(res.body.code, url).toBe("InvalidParameterValue");
      expect(res.body.detail, url).toMatch(/^url: /);
    }
    const ftp = await call<Problem>(
      "POST",
      "/v1/subscriptions",
      { url: "ftp://x.example/", eventTypes: ["*"] },
      bearer(t.apiKey),
    );
    expect(ftp.status).toBe(400);
    const list = await call<{ subscriptions: unknown[] }>(
      "GET",
      "/v1/subscriptions",
      undefined,
      bearer(t.apiKey),
    );
    expect(list.body.subscriptions).toEqual([]);
  });

  it("reaches loopback only where the deployment allows it, and private addresses never", () => {
    expect(checkOutbound("http://127.0.0.1:9999/", false).refused).toBe(true);
    expect(checkOutbound("http://127.0.0.1:9999/", true).refused).toBe(false);
    expect(checkOutbound("http://localhost:9999/", true).refused).toBe(false);
    expect(checkOutbound("http://10.0.0.1/", true).refused).toBe(true);
    expect(checkOutbound("http://169.254.169.254/", true).refused).toBe(true);
    expect(checkOutbound("https://hooks.example.com/x", false).refused).toBe(false);
  });

  it("refuses unknown event types and too many, naming the pattern", async () => {
    const t = await newTenant("types");
    const bad = await call<Problem>(
      "POST",
      "/v1/subscriptions",
      { url: URL_OK, eventTypes: ["router.*"] },
      bearer(t.apiKey),
    );
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/eventTypes\.0: must be an event type/);
    const none = await call<Problem>(
      "POST",
      "/v1/subscriptions",
      { url: URL_OK, eventTypes: [] },
      bearer(t.apiKey),
    );
    expect(none.status).toBe(400);
  });
});

describe("a delivery", () => {
  it("is signed as Standard Webhooks specifies, verified by an independent implementation", async () => {
    const t = await newTenant("sign");
    const { secret } = await subscribe(t, { url: URL_OK, eventTypes: ["alarm.*"] });
    const eventId = await logEvent(t.accountId);
    const msgs = await fanned([eventId]);
    expect(msgs).toHaveLength(1);
    const r = receiver(ok);
    const { result } = await runConsumer(msgs, { fetch: r.fetch });
    expect(result.explicitAcks).toHaveLength(1);
    expect(r.got).toHaveLength(1);
    const { headers, body, url } = r.got[0];
    expect(url).toBe(URL_OK);
    expect(headers["webhook-id"]).toBe(msgs[0].deliveryId);
    const payload = new Webhook(secret).verify(body, headers) as {
      id: string;
      type: string;
      accountId: string;
    };
    expect(payload.id).toBe(eventId);
    expect(payload.type).toBe("alarm.state-changed");
    expect(payload.accountId).toBe(t.accountId);
    // Another secret does not verify it.
    const stranger = await subscribe(await newTenant("x"), { url: URL_OK, eventTypes: ["*"] });
    expect(() => new Webhook(stranger.secret).verify(body, headers)).toThrow();
    expect((await deliveryRow(msgs[0].deliveryId))?.status).toBe("delivered");
  });

  it("retries on a 500 and on a timeout with the same webhook-id, and succeeds", async () => {
    const t = await newTenant("retry");
    const { id: subId, secret } = await subscribe(t, { url: URL_OK, eventTypes: ["*"] });
    const msgs = await fanned([await logEvent(t.accountId)]);
    const r = receiver((_, n) => {
      if (n === 1) return new Response("boom", { status: 500 });
      return ok();
    });
    const first = await runConsumer(msgs, { fetch: r.fetch, random: () => 0.5 });
    expect(first.result.retryMessages).toHaveLength(1);
    // (The test harness does not report a retry's delay; retryDelaySeconds is tested below.)
    // The timeout: a receiver that never answers, aborted by the attempt's signal.
    const hang = (async (_: RequestInfo | URL, init?: RequestInit) => {
      r.got.push({
        url: "",
        headers: Object.fromEntries(new Headers(init?.headers).entries()),
        body: String(init?.body),
      });
      return new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener("abort", () => reject(init.signal?.reason));
      });
    }) as typeof fetch;
    const second = await runConsumer(msgs, { fetch: hang }, { WEBHOOK_TIMEOUT_MS: "50" }, 2);
    expect(second.result.retryMessages).toHaveLength(1);
    const third = await runConsumer(msgs, { fetch: r.fetch }, {}, 3);
    expect(third.result.explicitAcks).toHaveLength(1);
    const ids = r.got.map((g) => g.headers["webhook-id"]);
    expect(ids).toHaveLength(3);
    expect(new Set(ids)).toEqual(new Set([msgs[0].deliveryId]));
    for (const g of r.got) new Webhook(secret).verify(g.body, g.headers);
    const list = await call<{
      deliveries: {
        status: string;
        attempts: { statusCode: number | null; error: string | null; responseExcerpt: string | null }[];
      }[];
    }>("GET", `/v1/subscriptions/${subId}/deliveries`, undefined, bearer(t.apiKey));
    const [d] = list.body.deliveries;
    expect(d.status).toBe("delivered");
    expect(d.attempts.map((a) => a.statusCode)).toEqual([500, null, 200]);
    expect(d.attempts[0].responseExcerpt).toBe("boom");
    expect(d.attempts[1].error).toMatch(/no answer within 50 ms/);
  });

  it("is dead after its last attempt, visible as such, and a redelivery starts a new round with the same id", async () => {
    const t = await newTenant("dead");
    const { id: subId, secret } = await subscribe(t, { url: URL_OK, eventTypes: ["*"] });
    const msgs = await fanned([await logEvent(t.accountId)]);
    const fail = receiver(() => new Response("no", { status: 503 }));
    const cap = { WEBHOOK_MAX_ATTEMPTS: "3" };
    for (let n = 1; n <= 3; n++) {
      const { result } = await runConsumer(msgs, { fetch: fail.fetch }, cap, n);
      // Retried until the last attempt, which is acknowledged: the delivery is dead, not lost.
      expect(result.retryMessages.length, `attempt ${n}`).toBe(n < 3 ? 1 : 0);
    }
    expect((await deliveryRow(msgs[0].deliveryId))?.status).toBe("dead");
    const dead = await call<{ deliveries: { deliveryId: string; attempts: unknown[] }[] }>(
      "GET",
      `/v1/subscriptions/${subId}/deliveries?status=dead`,
      undefined,
      bearer(t.apiKey),
    );
    expect(dead.body.deliveries.map((d) => d.deliveryId)).toEqual([msgs[0].deliveryId]);
    expect(dead.body.deliveries[0].attempts).toHaveLength(3);
    // A message that comes again for a dead delivery sends nothing.
    const again = receiver(ok);
    await runConsumer(msgs, { fetch: again.fetch }, cap, 4);
    expect(again.got).toHaveLength(0);

    // Redelivery, on a queue the test holds.
    const held = heldQueue();
    const fleet = new Fleet({ ...env, WEBHOOKS: held.queue } as Env, {
      role: "tenant",
      accountId: t.accountId,
      keyId: t.keyId,
    });
    const d = await redeliver(fleet, subId, msgs[0].deliveryId);
    expect(d.status).toBe("pending");
    expect(held.sent).toEqual([{ deliveryId: msgs[0].deliveryId, reason: "redeliver" }]);
    const { result } = await runConsumer(held.sent, { fetch: again.fetch }, cap);
    expect(result.explicitAcks).toHaveLength(1);
    expect(again.got).toHaveLength(1);
    expect(again.got[0].headers["webhook-id"]).toBe(msgs[0].deliveryId);
    new Webhook(secret).verify(again.got[0].body, again.got[0].headers);
    expect((await deliveryRow(msgs[0].deliveryId))?.attempts).toBe(4);
    // Through the API: another account's 404; an unknown delivery's 404.
    const other = await newTenant("other");
    const path = `/v1/subscriptions/${subId}/deliveries/${msgs[0].deliveryId}/redeliver`;
    expect((await call("POST", path, undefined, bearer(other.apiKey))).status).toBe(404);
    const unknown = `/v1/subscriptions/${subId}/deliveries/msg_${"0".repeat(32)}/redeliver`;
    expect((await call<Problem>("POST", unknown, undefined, bearer(t.apiKey))).body.code).toBe(
      "InvalidDeliveryID.NotFound",
    );
  });

  it("is signed by both secrets during a rotation's grace, and by the new one alone after", async () => {
    const t = await newTenant("rotate");
    const { id, secret: old } = await subscribe(t, { url: URL_OK, eventTypes: ["*"] });
    const rotated = await call<{ secret: string; subscription: { previousSecretsExpire: string[] } }>(
      "POST",
      `/v1/subscriptions/${id}/rotate-secret`,
      { graceSeconds: 3600 },
      bearer(t.apiKey),
    );
    expect(rotated.status).toBe(200);
    const fresh = rotated.body.secret;
    expect(fresh).not.toBe(old);
    expect(rotated.body.subscription.previousSecretsExpire).toHaveLength(1);
    const r = receiver(ok);
    await runConsumer(await fanned([await logEvent(t.accountId)]), { fetch: r.fetch });
    const during = r.got[0];
    expect(during.headers["webhook-signature"].split(" ")).toHaveLength(2);
    new Webhook(old).verify(during.body, during.headers);
    new Webhook(fresh).verify(during.body, during.headers);
    // Rotating again with no grace ends both older secrets' signing.
    const again = await call<{ secret: string }>(
      "POST",
      `/v1/subscriptions/${id}/rotate-secret`,
      { graceSeconds: 0 },
      bearer(t.apiKey),
    );
    const newest = again.body.secret;
    await runConsumer(await fanned([await logEvent(t.accountId)]), { fetch: r.fetch });
    const after = r.got[1];
    expect(after.headers["webhook-signature"].split(" ")).toHaveLength(2);
    new Webhook(newest).verify(after.body, after.headers);
    // The first secret's grace still runs; the second was dropped at once.
    new Webhook(old).verify(after.body, after.headers);
    expect(() => new Webhook(fresh).verify(after.body, after.headers)).toThrow();
    const bad = await call<Problem>(
      "POST",
      `/v1/subscriptions/${id}/rotate-secret`,
      { graceSeconds: -1 },
      bearer(t.apiKey),
    );
    expect(bad.status).toBe(400);
  });

  it("carries only the subscriber's own events, of the types and resources it asked for", async () => {
    const a = await newTenant("a");
    const b = await newTenant("b");
    const all = await subscribe(a, { url: URL_OK, eventTypes: ["*"] });
    const hosts = await subscribe(a, { url: URL_OK, eventTypes: ["host.*"] });
    const one = await subscribe(a, {
      url: URL_OK,
      eventTypes: ["alarm.*"],
      resourceIds: ["alarm-00000000000000001"],
    });
    const theirs = await subscribe(b, { url: URL_OK, eventTypes: ["*"] });
    const e1 = await logEvent(a.accountId, "alarm-00000000000000001");
    const e2 = await logEvent(a.accountId, "alarm-00000000000000002");
    await fanned([e1, e2]);
    const rows = await env.DB.prepare(
      "SELECT subscription_id, event_id FROM deliveries WHERE event_id IN (?, ?)",
    )
      .bind(e1, e2)
      .all<{ subscription_id: string; event_id: string }>();
    const got = rows.results.map((r) => `${r.subscription_id}:${r.event_id}`).sort();
    expect(got).toEqual([`${all.id}:${e1}`, `${all.id}:${e2}`, `${one.id}:${e1}`].sort());
    expect(got.some((g) => g.startsWith(theirs.id) || g.startsWith(hosts.id))).toBe(false);
  });

  it("changes nothing when the queue brings a batch again: one delivery per event, one request per delivery", async () => {
    const t = await newTenant("again");
    await subscribe(t, { url: URL_OK, eventTypes: ["*"] });
    const eventId = await logEvent(t.accountId);
    const first = await fanned([eventId]);
    const r = receiver(ok);
    await runConsumer(first, { fetch: r.fetch });
    // The events batch again: the delivery exists and was attempted, so nothing is queued.
    expect(await fanned([eventId])).toEqual([]);
    // The webhooks batch again: delivered already, so nothing is sent.
    await runConsumer(first, { fetch: r.fetch });
    expect(r.got).toHaveLength(1);
    const n = await env.DB.prepare("SELECT count(*) AS n FROM deliveries WHERE event_id = ?")
      .bind(eventId)
      .first<{ n: number }>();
    expect(n?.n).toBe(1);
  });

  it("carries storage events: a volume created and attached, once each however often the queue brings them", async () => {
    const t = await newTenant("storage");
    const sub = await subscribe(t, { url: URL_OK, eventTypes: ["volume.*"] });
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    for (let r = 1; r <= 3; r++) {
      const n = await call(
        "POST",
        "/v1/storage-nodes",
        { availabilityZone: zone, rack: `${zone}-s${r}` },
        bearer(ADMIN_KEY),
      );
      expect(n.status).toBe(201);
    }
    const l = await launch({ instanceType: "m5.large", availabilityZone: zone }, bearer(t.apiKey));
    expect(l.status).toBe(201);
    await advance(60);
    const instanceId = l.body.instances[0].instanceId;
    const v = await call<{ volumeId: string }>(
      "POST",
      "/v1/volumes",
      { availabilityZone: zone, volumeType: "gp3", sizeGiB: 8 },
      bearer(t.apiKey),
    );
    expect(v.status).toBe(201);
    const a = await call(
      "POST",
      `/v1/volumes/${v.body.volumeId}/attach`,
      { instanceId, device: "/dev/sdf" },
      bearer(t.apiKey),
    );
    expect(a.status).toBe(200);
    const logged = await env.DB.prepare(
      "SELECT id, type, body FROM events WHERE resource_id = ? AND type IN ('volume.created', 'volume.attached') ORDER BY time, seq",
    )
      .bind(v.body.volumeId)
      .all<{ id: string; type: string; body: string }>();
    expect(logged.results.map((e) => e.type)).toEqual(["volume.created", "volume.attached"]);
    // The events queue brings the batch, then brings it again: one delivery per event all the same.
    for (let round = 0; round < 2; round++) {
      const batch = createMessageBatch<unknown>(
        "hyperfleet-events",
        logged.results.map((e, i) => ({
          id: `s${round}-${i}-${crypto.randomUUID()}`,
          timestamp: new Date(),
          attempts: round + 1,
          body: JSON.parse(e.body),
        })),
      );
      await consumeEvents(batch, { ...env, WEBHOOKS: heldQueue().queue } as Env);
    }
    const rows = await env.DB.prepare("SELECT event_type, event_id FROM deliveries WHERE subscription_id = ?")
      .bind(sub.id)
      .all<{ event_type: string; event_id: string }>();
    const types = rows.results
      .filter((r) => logged.results.some((e) => e.id === r.event_id))
      .map((r) => r.event_type)
      .sort();
    expect(types).toEqual(["volume.attached", "volume.created"]);
    // Fanning the same events out again makes no new delivery.
    await fanned(logged.results.map((e) => e.id));
    const n = await env.DB.prepare("SELECT count(*) AS n FROM deliveries WHERE subscription_id = ?")
      .bind(sub.id)
      .first<{ n: number }>();
    expect(n?.n).toBe(rows.results.length);
  });

  it("reaches the subscriptions from the log when the events queue refuses the publish", async () => {
    const t = await newTenant("nopublish");
    const sub = await subscribe(t, { url: URL_OK, eventTypes: ["*"] });
    const eventId = await logEvent(t.accountId);
    const held = heldQueue();
    const refusing = {
      send: async () => {
        throw new Error("queue unavailable");
      },
      sendBatch: async () => {
        throw new Error("queue unavailable");
      },
    } as unknown as Queue;
    const fleet = new Fleet(
      { ...env, EVENTS: refusing, WEBHOOKS: held.queue } as Env,
      {
        accountId: t.accountId,
      } as never,
    );
    const ev = { id: eventId } as never;
    await fleet.publish([ev]);
    await fleet.publish([ev]);
    // Both publishes queue the one delivery not yet attempted; its row is one.
    expect(new Set(held.sent.map((m) => (m as { deliveryId: string }).deliveryId)).size).toBe(1);
    const rows = await env.DB.prepare("SELECT subscription_id FROM deliveries WHERE event_id = ?")
      .bind(eventId)
      .all<{ subscription_id: string }>();
    expect(rows.results.map((r) => r.subscription_id)).toEqual([sub.id]);
  });

  it("disables a subscription that has failed every delivery for long, with an event saying so", async () => {
    const t = await newTenant("failing");
    const { id } = await subscribe(t, { url: URL_OK, eventTypes: ["*"] });
    const watcher = await subscribe(t, { url: "https://other.example.com/", eventTypes: ["subscription.*"] });
    const fail = receiver(() => new Response("down", { status: 500 }));
    const start = Date.now();
    const settings = { WEBHOOK_DISABLE_AFTER_SECONDS: "60" };
    await runConsumer(
      await fanned([await logEvent(t.accountId)]),
      { fetch: fail.fetch, now: () => start },
      settings,
    );
    let sub = await call<{ enabled: boolean }>("GET", `/v1/subscriptions/${id}`, undefined, bearer(t.apiKey));
    expect(sub.body.enabled).toBe(true);
    const later = await runConsumer(
      await fanned([await logEvent(t.accountId)]),
      { fetch: fail.fetch, now: () => start + 61_000 },
      settings,
    );
    expect(later.result.retryMessages).toHaveLength(0);
    sub = await call("GET", `/v1/subscriptions/${id}`, undefined, bearer(t.apiKey));
    expect(sub.body).toMatchObject({
      enabled: false,
      disabledReason: expect.stringMatching(/every delivery failed since/),
    });
    const events = await call<{ events: { type: string; resourceId: string | null; state: string }[] }>(
      "GET",
      `/v1/events?type=subscription.disabled&resourceId=${id}`,
      undefined,
      bearer(t.apiKey),
    );
    expect(events.body.events).toEqual([
      expect.objectContaining({ type: "subscription.disabled", resourceId: id, state: "disabled" }),
    ]);
    // The account's other subscription heard of it; the disabled one gets nothing more.
    expect(later.queued).toHaveLength(1);
    const watched = await env.DB.prepare(
      "SELECT subscription_id FROM deliveries WHERE event_type = 'subscription.disabled' AND account_id = ?",
    )
      .bind(t.accountId)
      .all<{ subscription_id: string }>();
    expect(watched.results.map((r) => r.subscription_id)).toEqual([watcher.id]);
    expect(await fanned([await logEvent(t.accountId)])).toHaveLength(0);
  });
});

describe("the retry delay", () => {
  it("grows four times with each failure, jittered within its upper half, and stays within the queue's 12 hours", () => {
    for (const [failed, full] of [
      [1, 5],
      [2, 20],
      [3, 80],
      [4, 320],
    ]) {
      expect(retryDelaySeconds(5, failed, () => 0)).toBe(Math.round(full / 2));
      expect(retryDelaySeconds(5, failed, () => 0.999999)).toBe(full);
    }
    expect(retryDelaySeconds(5, 20, () => 0.999999)).toBe(12 * 3600);
  });
});

describe("the admin", () => {
  it("lists every account's subscriptions", async () => {
    const t = await newTenant("seen");
    const { id } = await subscribe(t, { url: URL_OK, eventTypes: ["*"] });
    const list = await call<{ subscriptions: { subscriptionId: string }[]; nextCursor: string | null }>(
      "GET",
      "/v1/subscriptions?limit=1000",
      undefined,
      bearer(ADMIN_KEY),
    );
    expect(list.body.subscriptions.map((s) => s.subscriptionId)).toContain(id);
  });
});
