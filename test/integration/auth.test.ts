// Who may call what: bearer keys, 401 and 403 as problem+json, keys minted and revoked.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { database } from "../../src/db/client";
import { authenticate } from "../../src/fleet/accounts";
import { readClock } from "../../src/fleet/clock";
import { hashSecret, isAdminKey, MIN_ADMIN_KEY_LENGTH, parseToken } from "../../src/fleet/keys";
import { MAX_KEYS_PER_ACCOUNT } from "../../src/fleet/limits";
import { ADMIN_KEY, bearer, call, newTenant, type Problem, raw } from "./helpers";

const REALM = 'Bearer realm="hyperfleet"';

describe("authentication", () => {
  it("answers 401 problem+json with WWW-Authenticate to a request without a key", async () => {
    const res = await raw<Problem>("GET", "/v1/instances");
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.headers.get("www-authenticate")).toBe(REALM);
    expect(res.body.code).toBe("AuthFailure");
  });

  it("answers 401 with error=invalid_token to an unknown, malformed or forged key", async () => {
    const tenant = await newTenant();
    const { keyId } = parseToken(tenant.apiKey)!;
    const forged = `hfk_${keyId.slice(4)}_${"A".repeat(43)}`;
    const unknown = `hfk_${"0".repeat(17)}_${"B".repeat(43)}`;
    for (const authorization of [
      `Bearer ${forged}`,
      `Bearer ${unknown}`,
      "Bearer not-a-key",
      `Basic ${btoa(`user:${tenant.apiKey}`)}`,
      tenant.apiKey,
      `Bearer ${ADMIN_KEY.slice(0, -1)}`,
    ]) {
      const res = await raw<Problem>("GET", "/v1/instances", undefined, { authorization });
      expect(res.status, authorization).toBe(401);
      expect(res.body.code).toBe("AuthFailure");
      expect(res.headers.get("www-authenticate")).toBe(`${REALM}, error="invalid_token"`);
    }
    // The key itself works, under any spelling of the scheme's name.
    const ok = await raw("GET", "/v1/instances", undefined, { authorization: `bearer ${tenant.apiKey}` });
    expect(ok.status).toBe(200);
  });

  it("leaves the root, health, OpenAPI document and docs open to anyone", async () => {
    for (const path of ["/", "/healthz", "/openapi.json", "/docs"]) {
      const res = await exports.default.fetch(new Request(`http://fleet.test${path}`));
      expect(res.status, path).toBe(200);
    }
  });

  it("answers 401 before looking at the route, so an unknown route tells nothing without a key", async () => {
    const res = await raw<Problem>("GET", "/v1/no-such-thing");
    expect(res.status).toBe(401);
    const known = await call<Problem>("GET", "/v1/no-such-thing");
    expect(known.status).toBe(404);
  });
});

describe("authorization", () => {
  it("refuses a tenant's key on every admin operation with 403, and changes nothing", async () => {
    const tenant = await newTenant();
    const hosts = await call<{ hosts: unknown[] }>("GET", "/v1/hosts?limit=1000");
    const clock = await call<{ nowMs: number; mode: string }>("GET", "/v1/clock");
    const attempts: [string, string, unknown][] = [
      ["POST", "/v1/hosts", { availabilityZone: "us-east-1a", family: "m5" }],
      ["PUT", `/v1/hosts/h-0123456789abcdef0/state`, { state: "failed" }],
      ["PUT", "/v1/admin/clock", { mode: "scaled" }],
      ["POST", "/v1/admin/clock/advance", { seconds: 3600 }],
      ["POST", "/v1/admin/reconcile", { repair: true }],
      ["POST", "/v1/accounts", { name: "mine" }],
    ];
    for (const [method, path, body] of attempts) {
      const res = await call<Problem>(method, path, body, bearer(tenant.apiKey));
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect(res.body.code).toBe("UnauthorizedOperation");
      expect(res.headers.get("www-authenticate")).toBe(`${REALM}, error="insufficient_scope"`);
    }
    expect((await call<{ hosts: unknown[] }>("GET", "/v1/hosts?limit=1000")).body.hosts).toEqual(
      hosts.body.hosts,
    );
    expect((await call<{ nowMs: number; mode: string }>("GET", "/v1/clock")).body).toMatchObject({
      mode: clock.body.mode,
      nowMs: clock.body.nowMs,
    });
  });

  it("refuses the admin key where an operation acts for an account, and launches nothing", async () => {
    const before = await call<{ instances: unknown[] }>(
      "GET",
      "/v1/instances?limit=1000",
      undefined,
      bearer(ADMIN_KEY),
    );
    const res = await call<Problem>("POST", "/v1/instances", { instanceType: "m5.large" }, bearer(ADMIN_KEY));
    expect(res.status).toBe(403);
    expect(res.body.code).toBe("UnauthorizedOperation");
    const after = await call<{ instances: unknown[] }>(
      "GET",
      "/v1/instances?limit=1000",
      undefined,
      bearer(ADMIN_KEY),
    );
    expect(after.body.instances.length).toBe(before.body.instances.length);
  });

  it("tells a key who it is", async () => {
    const tenant = await newTenant("team-me");
    const me = await call<{ role: string; account: { accountId: string; name: string }; keyId: string }>(
      "GET",
      "/v1/accounts/me",
      undefined,
      bearer(tenant.apiKey),
    );
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ role: "tenant", keyId: tenant.keyId });
    expect(me.body.account).toMatchObject({ accountId: tenant.accountId, name: "team-me" });
    const admin = await call("GET", "/v1/accounts/me", undefined, bearer(ADMIN_KEY));
    expect(admin.body).toEqual({ role: "admin", account: null, keyId: null });
  });
});

describe("accounts and keys", () => {
  it("makes 12-digit accounts whose keys are random, prefixed, and stored only as hashes", async () => {
    const a = await newTenant();
    const b = await newTenant();
    expect(a.accountId).toMatch(/^[0-9]{12}$/);
    expect(a.accountId).not.toBe(b.accountId);
    expect(a.apiKey).toMatch(/^hfk_[0-9a-f]{17}_[A-Za-z0-9_-]{43}$/);
    // 43 base64url characters carry 258 bits; the last one only 4 of its 6: 256 bits of secret.
    expect(parseToken(a.apiKey)!.secret.length * 6).toBeGreaterThanOrEqual(256);
    const rows = await env.DB.prepare("SELECT * FROM api_keys WHERE account_id = ?").bind(a.accountId).all();
    expect(rows.results).toHaveLength(1);
    const stored = JSON.stringify(rows.results[0]);
    const { secret } = parseToken(a.apiKey)!;
    expect(stored).not.toContain(secret);
    expect(rows.results[0].secret_hash).toBe(await hashSecret(secret));
  });

  it("adds keys to an account, lists them without secrets, and revokes one from the next request on", async () => {
    const t = await newTenant();
    const added = await call<{ keyId: string; apiKey: string }>(
      "POST",
      `/v1/accounts/${t.accountId}/keys`,
      { name: "ci" },
      bearer(t.apiKey),
    );
    expect(added.status).toBe(201);
    const second = added.body.apiKey;
    expect((await call("GET", "/v1/accounts/me", undefined, bearer(second))).status).toBe(200);

    const list = await call<{ keys: { keyId: string; name: string; revokedAt: string | null }[] }>(
      "GET",
      `/v1/accounts/${t.accountId}/keys`,
      undefined,
      bearer(second),
    );
    expect(list.body.keys.map((k) => k.keyId).sort()).toEqual([t.keyId, added.body.keyId].sort());
    expect(JSON.stringify(list.body)).not.toContain("hfk_");

    const revoked = await call<{ revokedAt: string | null }>(
      "DELETE",
      `/v1/keys/${added.body.keyId}`,
      undefined,
      bearer(t.apiKey),
    );
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).not.toBeNull();
    const refused = await call<Problem>("GET", "/v1/accounts/me", undefined, bearer(second));
    expect(refused.status).toBe(401);
    // The first key is untouched; revoking again changes nothing.
    expect((await call("GET", "/v1/accounts/me", undefined, bearer(t.apiKey))).status).toBe(200);
    const again = await call<{ revokedAt: string }>(
      "DELETE",
      `/v1/keys/${added.body.keyId}`,
      undefined,
      bearer(t.apiKey),
    );
    expect(again.body.revokedAt).toBe(revoked.body.revokedAt);
  });

  it("lets a key revoke itself, and the admin revoke any key", async () => {
    const t = await newTenant();
    const self = await call("DELETE", `/v1/keys/${t.keyId}`, undefined, bearer(t.apiKey));
    expect(self.status).toBe(200);
    expect((await call("GET", "/v1/accounts/me", undefined, bearer(t.apiKey))).status).toBe(401);

    const u = await newTenant();
    expect((await call("DELETE", `/v1/keys/${u.keyId}`, undefined, bearer(ADMIN_KEY))).status).toBe(200);
    expect((await call("GET", "/v1/accounts/me", undefined, bearer(u.apiKey))).status).toBe(401);
  });

  it("refuses a key past the account's limit, revoked keys counted, so the key list stays bounded", async () => {
    const t = await newTenant();
    // Concurrent requests, so that a limit checked apart from the insert would be passed.
    const adds = await Promise.all(
      Array.from({ length: MAX_KEYS_PER_ACCOUNT + 4 }, () =>
        call<Problem>("POST", `/v1/accounts/${t.accountId}/keys`, {}, bearer(ADMIN_KEY)),
      ),
    );
    expect(adds.filter((r) => r.status === 201)).toHaveLength(MAX_KEYS_PER_ACCOUNT - 1);
    const refused = adds.filter((r) => r.status !== 201);
    expect(refused.map((r) => [r.status, r.body.code])).toEqual(
      Array.from({ length: 5 }, () => [409, "LimitExceeded"]),
    );
    expect((await call("DELETE", `/v1/keys/${t.keyId}`, undefined, bearer(ADMIN_KEY))).status).toBe(200);
    const after = await call<Problem>("POST", `/v1/accounts/${t.accountId}/keys`, {}, bearer(ADMIN_KEY));
    expect(after.status).toBe(409);
    const keys = await call<{ keys: unknown[] }>(
      "GET",
      `/v1/accounts/${t.accountId}/keys`,
      undefined,
      bearer(ADMIN_KEY),
    );
    expect(keys.body.keys).toHaveLength(MAX_KEYS_PER_ACCOUNT);
  });

  it("answers 404 to a tenant for another account's keys, and leaves them working", async () => {
    const a = await newTenant();
    const b = await newTenant();
    const add = await call<Problem>("POST", `/v1/accounts/${b.accountId}/keys`, {}, bearer(a.apiKey));
    expect(add.status).toBe(404);
    expect(add.body.code).toBe("InvalidAccountID.NotFound");
    const list = await call<Problem>("GET", `/v1/accounts/${b.accountId}/keys`, undefined, bearer(a.apiKey));
    expect(list.status).toBe(404);
    const revoke = await call<Problem>("DELETE", `/v1/keys/${b.keyId}`, undefined, bearer(a.apiKey));
    expect(revoke.status).toBe(404);
    expect(revoke.body.code).toBe("InvalidKeyID.NotFound");
    // The same answer as for an account that does not exist: nothing to enumerate.
    const none = await call<Problem>("GET", "/v1/accounts/000000000000/keys", undefined, bearer(a.apiKey));
    expect(none.status).toBe(404);
    expect(none.body.detail.replace("000000000000", b.accountId)).toBe(list.body.detail);
    const keys = await call<{ keys: unknown[] }>(
      "GET",
      `/v1/accounts/${b.accountId}/keys`,
      undefined,
      bearer(b.apiKey),
    );
    expect(keys.body.keys).toHaveLength(1);
  });

  it("reads an account's key together with the clock, which the request then need not read again", async () => {
    const t = await newTenant();
    const db = database(env.DB);
    // The clock's row is made on its first read; from then on the key's read carries it.
    const clock = await readClock(db, env);
    const known = await authenticate(env, t.apiKey);
    expect(known?.caller).toEqual({ role: "tenant", accountId: t.accountId, keyId: t.keyId });
    expect(known?.clock).toEqual(clock);
    // The same key but its last character (one of 16 there: the secret's last 4 bits).
    const altered = `${t.apiKey.slice(0, -1)}${t.apiKey.endsWith("A") ? "E" : "A"}`;
    expect(await authenticate(env, altered)).toBeNull();
  });

  it("refuses an admin key too short to be one, so a weak secret opens nothing", async () => {
    expect(await isAdminKey("x".repeat(MIN_ADMIN_KEY_LENGTH - 1), "x".repeat(MIN_ADMIN_KEY_LENGTH - 1))).toBe(
      false,
    );
    expect(await isAdminKey("", "")).toBe(false);
    expect(await isAdminKey(ADMIN_KEY, ADMIN_KEY)).toBe(true);
    expect(await isAdminKey(`${ADMIN_KEY}x`, ADMIN_KEY)).toBe(false);
  });
});
