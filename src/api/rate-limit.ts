// Rate limiting per account key with the platform's own binding (wrangler.toml
// [[ratelimits]]; it runs under `wrangler dev` and in the tests as well, emulated by
// Miniflare). Every answer states the policy and a refusal says when to come back, in the
// fields of draft-ietf-httpapi-ratelimit-headers (RateLimit-Policy, RateLimit) and
// Retry-After. The admin key is not limited: there is one, it is the operator's, and
// settling the clock or repairing D1 must not wait behind a quota.
import type { MiddlewareHandler } from "hono";
import { problem } from "./problem";
import type { AppEnv } from "./router";

/**
 * The binding's `simple` limit, which the runtime does not expose: keep the two equal
 * (test/integration/rate-limit.test.ts counts the requests it lets through).
 */
export const RATE_LIMIT = { requests: 200, windowSeconds: 10 };

const POLICY = `"per-key";q=${RATE_LIMIT.requests};w=${RATE_LIMIT.windowSeconds}`;

export function limitRate(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const caller = c.var.caller;
    if (caller.role === "admin") return next();
    let allowed = true;
    try {
      allowed = (await c.env.RATE_LIMIT.limit({ key: caller.keyId })).success;
    } catch (err) {
      // The limiter guards capacity; it is not what keeps tenants apart, so it fails open.
      console.warn("the rate limiter did not answer; the request goes through", err);
    }
    if (!allowed) {
      // The binding tells only yes or no, not when its window ends: a whole window is the
      // longest the wait can be.
      const wait = String(RATE_LIMIT.windowSeconds);
      return problem(
        c,
        429,
        "RequestLimitExceeded",
        `Request limit exceeded: at most ${RATE_LIMIT.requests} requests per ${RATE_LIMIT.windowSeconds} s for each key`,
        {},
        { "retry-after": wait, ratelimit: `"per-key";r=0;t=${wait}`, "ratelimit-policy": POLICY },
      );
    }
    await next();
    c.header("RateLimit-Policy", POLICY);
  };
}
