// The SSE stream of events: a client that disconnects and reconnects with Last-Event-ID
// misses nothing and gets nothing twice; it sees only its own account's events, each as its
// kind's envelope.
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { EventEnvelope } from "../../src/api/schemas";
import { bearer, call, newTenant } from "./helpers";
import { logEvent } from "./webhook-helpers";

interface Message {
  id: string;
  event: string;
  data: string;
}

/** Opens the stream; answers once the server has begun it. */
async function open(headers: Record<string, string>, query: string) {
  const res = await exports.default.fetch(
    new Request(`http://fleet.test/v1/events/stream?${query}`, { headers }),
  );
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  return res.body!.pipeThrough(new TextDecoderStream()).getReader();
}

async function read(headers: Record<string, string>, query: string, count: number): Promise<Message[]> {
  return collect(await open(headers, query), count);
}

/** Reads SSE messages until `count` have come or the server ends the stream; then hangs up. */
async function collect(reader: ReadableStreamDefaultReader<string>, count: number): Promise<Message[]> {
  const out: Message[] = [];
  let buffer = "";
  while (out.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields = Object.fromEntries(
        block
          .split("\n")
          .filter((l) => l && !l.startsWith(":"))
          .map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trim()]),
      );
      if (fields.data !== undefined) out.push(fields as unknown as Message);
      end = buffer.indexOf("\n\n");
    }
  }
  await reader.cancel();
  return out;
}

describe("the event stream", () => {
  it("resumes after Last-Event-ID without missing or repeating an event", async () => {
    const t = await newTenant("stream");
    const other = await newTenant("noise");
    const key = bearer(t.apiKey);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(await logEvent(t.accountId));
      await logEvent(other.accountId);
    }
    // From the start of the log: the first three, then the client drops.
    const first = await read(key, "lastEventId=0&maxSeconds=5", 3);
    expect(first.map((m) => JSON.parse(m.data).id)).toEqual(ids.slice(0, 3));
    // More happen while it is away.
    for (let i = 0; i < 3; i++) ids.push(await logEvent(t.accountId));
    const lastSeen = first[2].id;
    const second = await read({ ...key, "last-event-id": lastSeen }, "maxSeconds=2", 100);
    const all = [...first, ...second].map(
      (m) => JSON.parse(m.data) as { id: string; accountId: string; seq: number },
    );
    expect(all.map((e) => e.id)).toEqual(ids);
    expect(new Set(all.map((e) => e.accountId))).toEqual(new Set([t.accountId]));
    // Each message's id is its event's seq, increasing; its data is the kind's envelope.
    expect(all.map((e) => e.seq)).toEqual([...first, ...second].map((m) => Number(m.id)));
    for (let i = 1; i < all.length; i++) expect(all[i].seq).toBeGreaterThan(all[i - 1].seq);
    for (const m of [...first, ...second]) {
      expect(m.event).toBe("alarm.state-changed");
      expect(EventEnvelope.safeParse(JSON.parse(m.data)).success).toBe(true);
    }
  });

  it("picks up an event logged while it is open", async () => {
    const t = await newTenant("live");
    const key = bearer(t.apiKey);
    const before = await logEvent(t.accountId);
    // Without Last-Event-ID the stream starts after the newest event the caller can see.
    const reader = await open(key, "maxSeconds=10");
    const later = await logEvent(t.accountId);
    const got = await collect(reader, 1);
    expect(got.map((m) => JSON.parse(m.data).id)).toEqual([later]);
    expect(later).not.toBe(before);
  });

  it("refuses a malformed Last-Event-ID with a 400", async () => {
    const t = await newTenant("bad-id");
    const res = await call("GET", "/v1/events/stream", undefined, {
      ...bearer(t.apiKey),
      "last-event-id": "yesterday",
    });
    expect(res.status).toBe(400);
  });

  it("serves one event as its envelope, and not to another account", async () => {
    const t = await newTenant("one");
    const id = await logEvent(t.accountId);
    const got = await call<{ id: string; type: string; version: number; resource: { type: string } }>(
      "GET",
      `/v1/events/${id}`,
      undefined,
      bearer(t.apiKey),
    );
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({
      id,
      type: "alarm.state-changed",
      version: 1,
      resource: { type: "alarm" },
    });
    const other = await newTenant("two");
    expect((await call("GET", `/v1/events/${id}`, undefined, bearer(other.apiKey))).status).toBe(404);
  });
});
