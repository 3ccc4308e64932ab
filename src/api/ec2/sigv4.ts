// AWS Signature Version 4, the verifying side: the canonical request, the string to sign
// and the signing key as the AWS General Reference defines them ("Create a canonical
// request", "Create a string to sign", "Calculate the signature"), with Web Crypto only, so
// the same code runs in the Worker and in Node's tests. Failures carry EC2's error codes.
import { SIGV4_SKEW_MS } from "../../fleet/limits";

export const ALGORITHM = "AWS4-HMAC-SHA256";

export interface Credential {
  accessKeyId: string;
  /** The scope's date, YYYYMMDD, its region and its service. */
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

/** What a request presents to be checked: its parts as they came over the wire. */
export interface SignedRequest {
  method: string;
  /** The path as sent, still percent-encoded. */
  path: string;
  /** The query string as sent, without its `?`. */
  query: string;
  headers: { get(name: string): string | null };
  body: Uint8Array;
}

export class SigV4Error extends Error {
  constructor(
    readonly code:
      | "MissingAuthenticationToken"
      | "IncompleteSignature"
      | "AuthFailure"
      | "SignatureDoesNotMatch"
      | "RequestExpired",
    message: string,
  ) {
    super(message);
  }
}

const CREDENTIAL = /^([^/\s]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request$/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** The Authorization header's parts, or IncompleteSignature naming what is missing. */
export function parseAuthorization(header: string | null): Credential {
  if (header === null || header.trim() === "") {
    throw new SigV4Error(
      "MissingAuthenticationToken",
      "The request must contain a valid access key ID: sign it with Signature Version 4",
    );
  }
  const space = header.indexOf(" ");
  const algorithm = space < 0 ? header : header.slice(0, space);
  if (algorithm !== ALGORITHM) {
    throw new SigV4Error("IncompleteSignature", `Authorization: the algorithm must be ${ALGORITHM}`);
  }
  const fields = new Map<string, string>();
  for (const part of header.slice(space + 1).split(",")) {
    const eq = part.indexOf("=");
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  for (const name of ["Credential", "SignedHeaders", "Signature"]) {
    if (!fields.get(name)) {
      throw new SigV4Error("IncompleteSignature", `Authorization: the ${name} element is missing`);
    }
  }
  const m = CREDENTIAL.exec(fields.get("Credential")!);
  if (!m) {
    throw new SigV4Error(
      "IncompleteSignature",
      "Authorization: the Credential must be <access key id>/<YYYYMMDD>/<region>/<service>/aws4_request",
    );
  }
  const signature = fields.get("Signature")!;
  if (!/^[0-9a-f]{64}$/.test(signature)) {
    throw new SigV4Error("IncompleteSignature", "Authorization: the Signature must be 64 hex digits");
  }
  const signedHeaders = fields.get("SignedHeaders")!.split(";");
  if (!signedHeaders.includes("host")) {
    throw new SigV4Error("IncompleteSignature", "Authorization: the host header must be signed");
  }
  return { accessKeyId: m[1], date: m[2], region: m[3], service: m[4], signedHeaders, signature };
}

/** The request's time, from X-Amz-Date (or Date), in ms; IncompleteSignature without one. */
export function requestTime(req: SignedRequest): { amzDate: string; ms: number } {
  const amz = req.headers.get("x-amz-date");
  if (amz !== null) {
    const m = AMZ_DATE.exec(amz);
    if (!m) throw new SigV4Error("IncompleteSignature", "X-Amz-Date: must look like 20261125T203000Z");
    const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
    return { amzDate: amz, ms };
  }
  const date = req.headers.get("date");
  const ms = date === null ? Number.NaN : Date.parse(date);
  if (Number.isNaN(ms)) {
    throw new SigV4Error("IncompleteSignature", "The request must carry its time in X-Amz-Date or Date");
  }
  // The string to sign takes the time in SigV4's basic ISO 8601 form, whichever header held it.
  return { amzDate: new Date(ms).toISOString().replace(/[-:]|\.\d{3}/g, ""), ms };
}

/** RFC 3986 unreserved characters stay; everything else is %XX in upper case (SigV4's encoding). */
export function uriEncode(text: string, keepSlash = false): string {
  let out = "";
  for (const byte of new TextEncoder().encode(text)) {
    const ch = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~]/.test(ch) || (keepSlash && ch === "/")) out += ch;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part.replaceAll("+", " "));
  } catch {
    return part;
  }
}

function canonicalPath(path: string): string {
  if (path === "" || path === "/") return "/";
  // Each segment decoded and encoded again, so either spelling of a character signs alike.
  return path
    .split("/")
    .map((s) => uriEncode(uriEncode(decode(s))))
    .join("/");
}

function canonicalQuery(query: string): string {
  if (query === "") return "";
  const pairs = query
    .split("&")
    .filter((p) => p !== "")
    .map((p) => {
      const eq = p.indexOf("=");
      const [k, v] = eq < 0 ? [p, ""] : [p.slice(0, eq), p.slice(eq + 1)];
      return [uriEncode(decode(k)), uriEncode(decode(v))] as const;
    });
  pairs.sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join("&");
}

const utf8 = new TextEncoder();

const hex = (bytes: ArrayBuffer | Uint8Array) =>
  [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");

export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", typeof data === "string" ? utf8.encode(data) : data));
}

async function hmac(key: Uint8Array, data: string): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, utf8.encode(data)));
}

/** The canonical request (AWS General Reference, "Create a canonical request"). */
export async function canonicalRequest(req: SignedRequest, signedHeaders: string[]): Promise<string> {
  const headers = signedHeaders.map((name) => {
    const value = (req.headers.get(name) ?? "").trim().replace(/\s+/g, " ");
    return `${name}:${value}\n`;
  });
  const declared = req.headers.get("x-amz-content-sha256");
  const payload = declared === "UNSIGNED-PAYLOAD" ? declared : await sha256Hex(req.body);
  return [
    req.method.toUpperCase(),
    canonicalPath(req.path),
    canonicalQuery(req.query),
    headers.join(""),
    signedHeaders.join(";"),
    payload,
  ].join("\n");
}

/** The signature of `req` under `secret` in the credential's scope. */
export async function signature(
  req: SignedRequest,
  cred: Omit<Credential, "signature" | "accessKeyId">,
  amzDate: string,
  secret: string,
): Promise<string> {
  const scope = `${cred.date}/${cred.region}/${cred.service}/aws4_request`;
  const stringToSign = [
    ALGORITHM,
    amzDate,
    scope,
    await sha256Hex(await canonicalRequest(req, cred.signedHeaders)),
  ].join("\n");
  let key = await hmac(utf8.encode(`AWS4${secret}`), cred.date);
  key = await hmac(key, cred.region);
  key = await hmac(key, cred.service);
  key = await hmac(key, "aws4_request");
  return hex(await hmac(key, stringToSign));
}

/**
 * Checks `req`, whose Authorization header parsed to `cred`, against the key's `secret` at
 * the server's time `nowMs`; throws the EC2 error that fits, in the order AWS checks them:
 * the request's time first, then the signature.
 */
export async function verify(req: SignedRequest, cred: Credential, secret: string, nowMs: number) {
  const { amzDate, ms } = requestTime(req);
  if (Math.abs(nowMs - ms) > SIGV4_SKEW_MS) {
    throw new SigV4Error(
      "RequestExpired",
      `Request has expired: it was signed at ${new Date(ms).toISOString()}, more than ${SIGV4_SKEW_MS / 60_000} minutes from the server's time ${new Date(nowMs).toISOString()}`,
    );
  }
  if (!amzDate.startsWith(cred.date)) {
    throw new SigV4Error(
      "SignatureDoesNotMatch",
      `The credential's date ${cred.date} is not the date of X-Amz-Date ${amzDate}`,
    );
  }
  if (cred.service !== "ec2") {
    throw new SigV4Error(
      "SignatureDoesNotMatch",
      `The credential is scoped to the service '${cred.service}'; this endpoint is 'ec2'`,
    );
  }
  const expected = utf8.encode(await signature(req, cred, amzDate, secret));
  const presented = utf8.encode(cred.signature);
  if (expected.length !== presented.length || !timingSafeEqual(expected, presented)) {
    throw new SigV4Error(
      "SignatureDoesNotMatch",
      "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
    );
  }
}

/** Constant-time comparison; the Workers runtime has one, Node's Web Crypto does not. */
function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  const subtle = crypto.subtle as SubtleCrypto & {
    timingSafeEqual?: (a: Uint8Array, b: Uint8Array) => boolean;
  };
  if (subtle.timingSafeEqual) return subtle.timingSafeEqual(a, b);
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
