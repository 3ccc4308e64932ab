// API keys as a tenant holds them: `hfk_` (a prefix that secret scanners can recognise),
// the key's id (17 hex digits), `_`, and a secret of 32 random bytes in base64url: 256 bits,
// past the 2^-128 chance of a guess that RFC 6749 §10.10 requires (2^-160 recommended).
// Only the SHA-256 of the secret is stored; the secret is random, so a slow password hash
// would add nothing. Comparisons run in constant time.
import { newId } from "./ids";

export const KEY_PREFIX = "hfk_";
const TOKEN = /^hfk_([0-9a-f]{17})_([A-Za-z0-9_-]{43})$/;
/** An admin key shorter than this is treated as absent: the fleet then has no operator. */
export const MIN_ADMIN_KEY_LENGTH = 32;

export interface MintedKey {
  keyId: string;
  /** The whole bearer key: shown once, never stored. */
  token: string;
  secretHash: string;
}

const encoder = new TextEncoder();

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

const toHex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export async function hashSecret(secret: string): Promise<string> {
  return toHex(await sha256(secret));
}

export async function mintKey(): Promise<MintedKey> {
  const keyId = newId("key");
  const secret = base64url(crypto.getRandomValues(new Uint8Array(32)));
  return { keyId, token: `${KEY_PREFIX}${keyId.slice(4)}_${secret}`, secretHash: await hashSecret(secret) };
}

/** The key id and secret of a well-formed tenant key; null for anything else. */
export function parseToken(token: string): { keyId: string; secret: string } | null {
  const m = TOKEN.exec(token);
  return m ? { keyId: `key-${m[1]}`, secret: m[2] } : null;
}

/** Whether `secret` hashes to `storedHash`, in time that does not depend on where they differ. */
export async function secretMatches(secret: string, storedHash: string): Promise<boolean> {
  // A secret that matched this very hash before matches it again: the same key presented on
  // request after request is hashed once per isolate. A stored hash that changed, or a secret
  // never seen, is hashed and compared as below.
  if (matched.get(secret) === storedHash) return true;
  const stored = fromHex(storedHash);
  const presented = await sha256(secret);
  const ok = stored.length === presented.length && crypto.subtle.timingSafeEqual(presented, stored);
  if (ok) {
    if (matched.size >= MATCHED_SECRETS) matched.clear();
    matched.set(secret, storedHash);
  }
  return ok;
}

/** Secrets that matched, and the hash they matched; at most MATCHED_SECRETS, then forgotten. */
const matched = new Map<string, string>();
const MATCHED_SECRETS = 4096;

/**
 * Whether `token` is the admin key. Both are hashed first, so the comparison is of equal
 * lengths and takes the same time whatever the token.
 */
export async function isAdminKey(token: string, adminKey: string | undefined): Promise<boolean> {
  if (!adminKey || adminKey.length < MIN_ADMIN_KEY_LENGTH) return false;
  const [a, b] = await Promise.all([sha256(token), adminHash(adminKey)]);
  return crypto.subtle.timingSafeEqual(a, b);
}

// The admin key's hash, computed once per isolate and key (a secret changes only with a new
// deployment, but the test pool runs several keys in one isolate). Only the resolved bytes are
// kept: a promise from one request's I/O may not be awaited by another.
let admin: { key: string; hash: Uint8Array } | null = null;

async function adminHash(adminKey: string): Promise<Uint8Array> {
  if (admin?.key === adminKey) return admin.hash;
  const hash = await sha256(adminKey);
  admin = { key: adminKey, hash };
  return hash;
}
