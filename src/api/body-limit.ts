// Refuses request bodies over a size, and leaves the connection fit for the next request.
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "./router";

/**
 * A body with a Content-Length is judged by its header and never touched: the runtime
 * discards an unread body of known length itself. A chunked body is counted as it is
 * read; once over the limit the rest is read and discarded before the refusal is sent.
 * Answering with the body half read (as hono's bodyLimit does) leaves the connection
 * mid-body: workerd closes it after the response without saying so, and the next request
 * a client sends on it fails (`wrangler dev` answers that POST 503 "Your worker restarted
 * mid-request"). Cancelling the stream does the same. The discarding is bounded by the
 * platform's own cap on request bodies (100 MB on the Free and Pro plans,
 * developers.cloudflare.com/workers/platform/limits/#request-limits).
 */
export function limitBody(
  maxBytes: number,
  tooLarge: (c: Context<AppEnv>) => Response,
  unreadable: (c: Context<AppEnv>) => Response,
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const body = c.req.raw.body;
    if (!body) return next();
    const length = c.req.raw.headers.get("content-length");
    if (length !== null && !c.req.raw.headers.has("transfer-encoding")) {
      return Number(length) > maxBytes ? tooLarge(c) : next();
    }
    const reader = body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size <= maxBytes) chunks.push(value);
      }
    } catch {
      // The client went away mid-body; nobody reads this answer, but it is not a server fault.
      return unreadable(c);
    }
    if (size > maxBytes) return tooLarge(c);
    const whole = new Uint8Array(size);
    let at = 0;
    for (const chunk of chunks) {
      whole.set(chunk, at);
      at += chunk.byteLength;
    }
    c.req.raw = new Request(c.req.raw, { body: whole });
    return next();
  };
}
