// The EC2 Query API on the Worker's root: `POST /` with a form-encoded `Action=...&
// Version=2016-11-15`, signed with SigV4 by one of an account's access keys, answered in
// EC2's XML. The action runs as that account, through the same fleet services as /v1.
import type { Context } from "hono";
import { database } from "../../db/client";
import { accessKeySecret } from "../../fleet/access-keys";
import { OPERATOR } from "../../fleet/accounts";
import { Fleet } from "../../fleet/context";
import { seedDemoFleet } from "../../fleet/demo";
import { ApiError } from "../../fleet/errors";
import { RATE_LIMIT } from "../rate-limit";
import type { AppEnv } from "../router";
import { ACTIONS, PENDING } from "./actions";
import { QueryError, QueryParams } from "./query";
import { parseAuthorization, type SignedRequest, SigV4Error, verify } from "./sigv4";
import { API_VERSION, errorXml, responseXml } from "./xml";

const SIGV4_STATUS: Record<SigV4Error["code"], 400 | 401 | 403> = {
  MissingAuthenticationToken: 401,
  IncompleteSignature: 400,
  AuthFailure: 401,
  SignatureDoesNotMatch: 403,
  RequestExpired: 400,
};

const xmlHeaders = (requestId: string) => ({
  "content-type": "text/xml;charset=UTF-8",
  "x-amzn-requestid": requestId,
});

function failure(err: unknown, requestId: string): Response {
  let code: string;
  let message: string;
  let status: number;
  const headers: Record<string, string> = xmlHeaders(requestId);
  if (err instanceof SigV4Error) {
    ({ code, message } = err);
    status = SIGV4_STATUS[err.code];
  } else if (err instanceof QueryError) {
    ({ code, message, status } = err);
  } else if (err instanceof ApiError) {
    code = err.code;
    message = err.message;
    // EC2 answers client errors 400 and its capacity errors as server errors, which SDKs retry.
    status = err.status === 429 ? 503 : err.status >= 500 ? err.status : 400;
  } else {
    console.error("unhandled error in the EC2 endpoint", err);
    code = "InternalError";
    message = "An internal error has occurred; the request changed nothing it could not finish";
    status = 500;
  }
  return new Response(errorXml(code, message, requestId), { status, headers });
}

async function answer(c: Context<AppEnv>, requestId: string): Promise<Response> {
  const url = new URL(c.req.url);
  const body = new Uint8Array(await c.req.arrayBuffer());
  const req: SignedRequest = {
    method: c.req.method,
    path: url.pathname,
    query: url.search.slice(1),
    headers: c.req.raw.headers,
    body,
  };
  const cred = parseAuthorization(c.req.header("authorization") ?? null);
  // Before the key's lookup: the seed registers the demo tenant, whose keys may sign this.
  await seedDemoFleet(new Fleet(c.env, OPERATOR));
  const key = await accessKeySecret(c.env, database(c.env.DB), cred.accessKeyId);
  if (!key)
    throw new SigV4Error("AuthFailure", "AWS was not able to validate the provided access credentials");
  await verify(req, cred, key.secret, Date.now());

  const limited = await c.env.RATE_LIMIT.limit({ key: key.caller.keyId }).then(
    (r) => !r.success,
    (err) => {
      console.warn("the rate limiter did not answer; the request goes through", err);
      return false;
    },
  );
  if (limited) {
    throw new QueryError(
      "RequestLimitExceeded",
      `Request limit exceeded: at most ${RATE_LIMIT.requests} requests per ${RATE_LIMIT.windowSeconds} s for each key`,
      503,
    );
  }

  const contentType = c.req.header("content-type") ?? "";
  if (!contentType.toLowerCase().startsWith("application/x-www-form-urlencoded")) {
    throw new QueryError(
      "InvalidParameterValue",
      "Content-Type: the request must be application/x-www-form-urlencoded",
    );
  }
  const q = QueryParams.parse(new TextDecoder().decode(body));
  const action = q.protocol("Action");
  if (!action) throw new QueryError("MissingAction", "The request must contain the parameter Action");
  const version = q.protocol("Version");
  if (version !== API_VERSION) {
    throw new QueryError(
      version === undefined ? "MissingParameter" : "InvalidParameterValue",
      `Version: this endpoint speaks EC2's API version ${API_VERSION}${version === undefined ? "" : `, not '${version.slice(0, 32)}'`}`,
    );
  }
  const handler = Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined;
  if (!handler) {
    if (Object.hasOwn(PENDING, action)) {
      throw new QueryError("UnsupportedOperation", `${action} is not supported yet: ${PENDING[action]}`);
    }
    throw new QueryError(
      "InvalidAction",
      `The action ${action.slice(0, 64)} is not valid for this web service, or this endpoint does not offer it`,
    );
  }
  const fleet = new Fleet(c.env, key.caller, key.clock);
  const result = await handler({ fleet, q, accountId: key.caller.accountId });
  return new Response(responseXml(action, requestId, result), {
    status: 200,
    headers: xmlHeaders(requestId),
  });
}

export async function ec2Endpoint(c: Context<AppEnv>): Promise<Response> {
  const requestId = crypto.randomUUID();
  try {
    return await answer(c, requestId);
  } catch (err) {
    return failure(err, requestId);
  }
}
