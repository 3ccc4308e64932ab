// Rate limiting per key, through the platform's binding as Miniflare runs it locally.
import { describe, expect, it } from "vitest";
import { RATE_LIMIT } from "../../src/api/rate-limit";
import { ADMIN_KEY, bearer, call, newTenant, type Problem } from "./helpers";

const POLICY = `"per-key";q=${RATE_LIMIT.requests};w=${RATE_LIMIT.windowSeconds}`;

describe("rate limiting", () => {
  it("answers 429 with Retry-After and RateLimit fields once a key spends its quota, and only that key", async () => {
    const t = await newTenant();
    const other = await newTenant();
    const me = () => call<Problem>("GET", "/v1/accounts/me", undefined, bearer(t.apiKey));
    let allowed = 0;
    let refused: Awaited<ReturnType<typeof me>> | undefined;
    // One window's quota and one more, at once; a second round in case a window ended mid-way.
    for (let round = 0; round < 2 && !refused; round++) {
      const answers = await Promise.all(Array.from({ length: RATE_LIMIT.requests + 1 }, me));
      allowed += answers.filter((a) => a.status === 200).length;
      refused = answers.find((a) => a.status === 429);
    }
    // The binding lets through at least the quota the headers state, and not much more.
    expect(allowed).toBeGreaterThanOrEqual(RATE_LIMIT.requests);
    expect(refused?.status).toBe(429);
    expect(refused?.headers.get("content-type")).toBe("application/problem+json");
    expect(refused?.body.code).toBe("RequestLimitExceeded");
    const wait = Number(refused?.headers.get("retry-after"));
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(RATE_LIMIT.windowSeconds);
    expect(refused?.headers.get("ratelimit")).toBe(`"per-key";r=0;t=${wait}`);
    expect(refused?.headers.get("ratelimit-policy")).toBe(POLICY);

    // A refused launch launches nothing.
    const before = await call<{ instances: unknown[] }>(
      "GET",
      "/v1/instances?limit=1000",
      undefined,
      bearer(ADMIN_KEY),
    );
    const launch = await call<Problem>(
      "POST",
      "/v1/instances",
      { instanceType: "m5.large" },
      bearer(t.apiKey),
    );
    expect(launch.status).toBe(429);
    const after = await call<{ instances: unknown[] }>(
      "GET",
      "/v1/instances?limit=1000",
      undefined,
      bearer(ADMIN_KEY),
    );
    expect(after.body.instances).toEqual(before.body.instances);

    // Another account's key has its own quota, and every answer states the policy.
    const fine = await call("GET", "/v1/accounts/me", undefined, bearer(other.apiKey));
    expect(fine.status).toBe(200);
    expect(fine.headers.get("ratelimit-policy")).toBe(POLICY);
  });

  it("does not limit the admin key", async () => {
    const answers = await Promise.all(
      Array.from({ length: RATE_LIMIT.requests + 1 }, () =>
        call("GET", "/v1/accounts/me", undefined, bearer(ADMIN_KEY)),
      ),
    );
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    expect(answers[0].headers.get("ratelimit-policy")).toBeNull();
  });

  it("states the policy on refusals of other kinds too", async () => {
    const t = await newTenant();
    const res = await call<Problem>("GET", "/v1/instances/i-0123456789abcdef0", undefined, bearer(t.apiKey));
    expect(res.status).toBe(404);
    expect(res.headers.get("ratelimit-policy")).toBe(POLICY);
  });
});
