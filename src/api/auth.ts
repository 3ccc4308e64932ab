// Bearer authentication on every /v1 route: who the key belongs to (fleet/accounts.ts),
// then whether that caller may call the operation (access.ts). A missing or unknown key is
// 401 with WWW-Authenticate (RFC 6750 §3), a key of the wrong kind 403; neither reaches a
// handler, so a refused request changes nothing.
import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { authenticate } from "../fleet/accounts";
import { Fleet } from "../fleet/context";
import { accessOf } from "./access";
import { problem } from "./problem";
import type { AppEnv } from "./router";

const REALM = 'Bearer realm="hyperfleet"';

/** The OpenAPI form ("POST /v1/instances/{id}/stop") of the route that will answer, if any. */
function operationOf(c: Context<AppEnv>): { method: string; path: string } | null {
  const route = matchedRoutes(c)
    .filter((r) => r.method !== "ALL")
    .at(-1);
  return route ? { method: route.method, path: route.path.replace(/:(\w+)/g, "{$1}") } : null;
}

function unauthorized(c: Context<AppEnv>, presented: boolean): Response {
  return presented
    ? problem(
        c,
        401,
        "AuthFailure",
        "authorization: the key is unknown, revoked or malformed",
        {},
        { "www-authenticate": `${REALM}, error="invalid_token"` },
      )
    : problem(
        c,
        401,
        "AuthFailure",
        "authorization: send an API key as 'Authorization: Bearer <key>'",
        {},
        { "www-authenticate": REALM },
      );
}

function forbidden(c: Context<AppEnv>, detail: string): Response {
  return problem(
    c,
    403,
    "UnauthorizedOperation",
    `You are not authorized to perform this operation: ${detail}`,
    {},
    { "www-authenticate": `${REALM}, error="insufficient_scope"` },
  );
}

export function authenticateRequests(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header("authorization");
    const token = header === undefined ? null : (/^Bearer +(\S+) *$/i.exec(header)?.[1] ?? null);
    if (token === null) return unauthorized(c, header !== undefined);
    const known = await authenticate(c.env, token);
    if (!known) return unauthorized(c, true);
    const { caller, clock } = known;
    // An unknown route goes on to its 404; every route the API has is in the access table.
    const op = operationOf(c);
    const access = op ? accessOf(op.method, op.path) : "any";
    if (access === "admin" && caller.role !== "admin") return forbidden(c, "it takes the admin key");
    if (access === "tenant" && caller.role !== "tenant") {
      return forbidden(
        c,
        "the admin key operates the fleet and reads it; this operation acts for an account and takes one of its keys",
      );
    }
    c.set("caller", caller);
    c.set("clock", clock);
    await next();
  };
}

/** The fleet as the request's caller sees it. */
export function fleetOf(c: Context<AppEnv>): Fleet {
  return new Fleet(c.env, c.var.caller, c.var.clock);
}
