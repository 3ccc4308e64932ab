import { createExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { ADMIN_KEY, bearer, defaultTenant, type Problem } from "./helpers";

/**
 * A streamed body (sent chunked, without a length): `json`, then `padding` chunks of 8 KiB of
 * spaces, then the closing brace; or an error in its place with `fail`. Counts the chunks pulled.
 */
function streamedBody(json: string, padding: number, fail = false) {
  const encoder = new TextEncoder();
  const chunks = [
    encoder.encode(json),
    ...Array(padding).fill(new Uint8Array(8192).fill(0x20)),
    encoder.encode("}"),
  ];
  const state = { pulled: 0 };
  const stream = new ReadableStream<Uint8Array>({
    pull(ctrl) {
      if (state.pulled === chunks.length - 1 && fail) return ctrl.error(new Error("the client went away"));
      if (state.pulled === chunks.length) return ctrl.close();
      ctrl.enqueue(chunks[state.pulled++]);
    },
  });
  return { stream, state, chunks: chunks.length };
}

/**
 * Through the Worker's entry point, or `direct` to its handler in this isolate; with the key
 * the path takes, so that only the body can be refused.
 */
async function post(path: string, body: ReadableStream<Uint8Array>, direct = false) {
  const key = path.startsWith("/v1/admin") ? ADMIN_KEY : (await defaultTenant()).apiKey;
  const req = new Request(`http://fleet.test${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...bearer(key) },
    body,
    duplex: "half",
  } as RequestInit);
  const res = direct
    ? await worker.fetch(req, env, createExecutionContext())
    : await exports.default.fetch(req);
  return { status: res.status, body: (await res.json()) as Problem & { nowMs: number } };
}

describe("bodies sent without a length", () => {
  it("reads a refused chunked body to its end, so its connection can carry the next request", async () => {
    const { stream, state, chunks } = streamedBody('{"instanceType":"m5.large"', 20);
    const res = await post("/v1/instances", stream);
    expect(res.status).toBe(413);
    expect(res.body.code).toBe("RequestTooLarge");
    expect(state.pulled).toBe(chunks);
  });

  it("passes a chunked body within the limit on whole", async () => {
    const { stream } = streamedBody('{"seconds":5', 7);
    const res = await post("/v1/admin/clock/advance", stream);
    expect(res.status).toBe(200);
  });

  it("answers 400, not 500, when a chunked body breaks off", async () => {
    const { stream } = streamedBody('{"instanceType":"m5.large"', 3, true);
    // Direct: on the way through the entry point the runtime ends an errored body cleanly,
    // as if it were whole, where a connection cut mid-body is an error.
    const res = await post("/v1/instances", stream, true);
    expect(res.status).toBe(400);
    expect(res.body.detail).toBe("body: ended before it was complete");
  });
});
