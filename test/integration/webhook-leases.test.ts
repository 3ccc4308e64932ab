// A webhook delivery's lease, the receivers it refuses however their address is spelt, and how much of a
// receiver's answer an attempt reads.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { checkOutbound } from "../../src/events/outbound";
import { RESPONSE_EXCERPT_BYTES, RESPONSE_EXCERPT_CHARS } from "../../src/fleet/limits";
import { bearer, call, newTenant, type Problem } from "./helpers";
import { deliveryRow, fanned, logEvent, receiver, runConsumer, subscribe } from "./webhook-helpers";

const URL_OK = "https://hooks.example.com/leases";

async function lease(deliveryId: string) {
  return (
    await env.DB.prepare("SELECT lease_until FROM deliveries WHERE id = ?")
      .bind(deliveryId)
      .first<{ lease_until: number | null }>()
  )?.lease_until;
}

describe("a delivery's lease", () => {
  it("is given back when the attempt throws after claiming it, so the queue's retry delivers at once", async () => {
    const t = await newTenant("lease-throw");
    const { id: subId } = await subscribe(t, { url: URL_OK, eventTypes: ["*"] });
    const msgs = await fanned([await logEvent(t.accountId)]);
    const { deliveryId } = msgs[0];
    // Sealed secrets that no longer open: the attempt throws after its claim, before any request.
    const sealed = await env.DB.prepare("SELECT secrets FROM subscriptions WHERE id = ?")
      .bind(subId)
      .first<{ secrets: string }>();
    await env.DB.prepare("UPDATE subscriptions SET secrets = 'not-sealed' WHERE id = ?").bind(subId).run();
    const r = receiver(() => new Response("ok", { status: 200 }));
    const first = await runConsumer(msgs, { fetch: r.fetch });
    expect(first.result.retryMessages).toHaveLength(1);
    expect(r.got).toHaveLength(0);
    expect((await deliveryRow(deliveryId))?.status).toBe("pending");
    expect(await lease(deliveryId)).toBeNull();

    await env.DB.prepare("UPDATE subscriptions SET secrets = ? WHERE id = ?")
      .bind(sealed?.secrets, subId)
      .run();
    const second = await runConsumer(msgs, { fetch: r.fetch }, {}, 2);
    expect(second.result.explicitAcks).toHaveLength(1);
    expect(r.got).toHaveLength(1);
    expect((await deliveryRow(deliveryId))?.status).toBe("delivered");
  });

  it("keeps a message whose delivery another attempt holds, and claims it once that lease has expired", async () => {
    const t = await newTenant("lease-expiry");
    await subscribe(t, { url: URL_OK, eventTypes: ["*"] });
    const msgs = await fanned([await logEvent(t.accountId)]);
    const { deliveryId } = msgs[0];
    // An attempt that claimed the delivery and then vanished without a word (its isolate gone).
    const now = Date.now();
    await env.DB.prepare("UPDATE deliveries SET lease_until = ? WHERE id = ?")
      .bind(now + 40_000, deliveryId)
      .run();
    const r = receiver(() => new Response("ok", { status: 200 }));
    const held = await runConsumer(msgs, { fetch: r.fetch, now: () => now });
    // Not acknowledged: dropping it would leave the delivery pending for ever.
    expect(held.result.retryMessages).toHaveLength(1);
    expect(held.result.explicitAcks).toHaveLength(0);
    expect(r.got).toHaveLength(0);
    expect((await deliveryRow(deliveryId))?.status).toBe("pending");

    const later = await runConsumer(msgs, { fetch: r.fetch, now: () => now + 41_000 }, {}, 2);
    expect(later.result.explicitAcks).toHaveLength(1);
    expect(r.got).toHaveLength(1);
    expect((await deliveryRow(deliveryId))?.status).toBe("delivered");
    expect(await lease(deliveryId)).toBeNull();

    // Delivered: another copy of the message is acknowledged and sends nothing.
    const again = await runConsumer(msgs, { fetch: r.fetch, now: () => now + 42_000 }, {}, 3);
    expect(again.result.explicitAcks).toHaveLength(1);
    expect(r.got).toHaveLength(1);
  });
});

describe("outbound refusals", () => {
  // Each spelling reaches a loopback, private or metadata IPv4 address through an IPv6 form.
  const spellings = [
    // IPv4-compatible (RFC 4291 2.5.5.1), dotted and in hex.
    "http://[::127.0.0.1]/",
    "http://[::7f00:1]/",
    "http://[::10.0.0.1]/",
    "http://[::a9fe:a9fe]/",
    // IPv4-mapped in hex, and written out in full.
    "http://[::ffff:7f00:1]/",
    "http://[0:0:0:0:0:ffff:7f00:1]/",
    "http://[::ffff:a00:1]/",
    "http://[::ffff:c0a8:1]/",
    // IPv4-translated (RFC 2765).
    "http://[::ffff:0:7f00:1]/",
    // NAT64's well-known prefix (RFC 6052), dotted and in hex, and the local-use prefix (RFC 8215).
    "http://[64:ff9b::127.0.0.1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[64:ff9b::c0a8:101]/",
    "http://[64:ff9b:1::1]/",
    // 6to4 (RFC 3056) around 10.0.0.1.
    "http://[2002:a00:1::]/",
  ];

  it("refuses IPv4-compatible, IPv4-mapped, NAT64 and 6to4 spellings of private addresses, naming the field", async () => {
    const t = await newTenant("ssrf-v6");
    for (const url of spellings) {
      expect(checkOutbound(url, false).refused, url).toBe(true);
      const res = await call<Problem>(
        "POST",
        "/v1/subscriptions",
        { url, eventTypes: ["*"] },
        bearer(t.apiKey),
      );
      expect(res.status, url).toBe(400);
      expect(res.body.detail, url).toMatch(
        /^url: refers to a (loopback|private|link-local|metadata|reserved)/,
      );
    }
    // The metadata address and link-local through NAT64 are named as such; a loopback spelling is
    // loopback, which a local deployment may reach, and a private one stays refused there too.
    expect(checkOutbound("http://[64:ff9b::a9fe:a9fe]/", true)).toMatchObject({
      refused: true,
      reason: expect.stringMatching(/metadata/),
    });
    expect(checkOutbound("http://[::ffff:7f00:1]/", true).refused).toBe(false);
    expect(checkOutbound("http://[64:ff9b::a00:1]/", true).refused).toBe(true);
    // Public IPv4 behind NAT64 and ordinary global IPv6 addresses are fine.
    expect(checkOutbound("http://[64:ff9b::808:808]/", false).refused).toBe(false);
    expect(checkOutbound("http://[2606:4700:4700::1111]/", false).refused).toBe(false);
  });
});

describe("a receiver's answer", () => {
  it("is read only as far as the excerpt needs, however long the body", async () => {
    const t = await newTenant("bounded-body");
    await subscribe(t, { url: URL_OK, eventTypes: ["*"] });
    const msgs = await fanned([await logEvent(t.accountId)]);
    let pulled = 0;
    let cancelled = false;
    const chunk = new TextEncoder().encode("x".repeat(1024));
    // An endless body: reading it whole would never end.
    const r = receiver(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            pull(c) {
              pulled += chunk.byteLength;
              c.enqueue(chunk);
            },
            cancel() {
              cancelled = true;
            },
          }),
          { status: 200 },
        ),
    );
    const out = await runConsumer(msgs, { fetch: r.fetch });
    expect(out.result.explicitAcks).toHaveLength(1);
    expect(cancelled).toBe(true);
    // The stream may run a chunk or two ahead of the reader; never far.
    expect(pulled).toBeLessThanOrEqual(RESPONSE_EXCERPT_BYTES + 4 * chunk.byteLength);
    const list = await call<{ deliveries: { status: string; attempts: { responseExcerpt: string }[] }[] }>(
      "GET",
      `/v1/subscriptions/${(await call<{ subscriptions: { subscriptionId: string }[] }>("GET", "/v1/subscriptions", undefined, bearer(t.apiKey))).body.subscriptions[0].subscriptionId}/deliveries`,
      undefined,
      bearer(t.apiKey),
    );
    expect(list.body.deliveries[0].status).toBe("delivered");
    expect(list.body.deliveries[0].attempts[0].responseExcerpt).toBe("x".repeat(RESPONSE_EXCERPT_CHARS));
  });
});
