// Signing secrets at rest: AES-256-GCM under a key derived (SHA-256) from the Worker's
// secret HYPERFLEET_WEBHOOK_KEY, a fresh 96-bit IV each time (NIST SP 800-38D, 8.2).
// D1 holds only the ciphertext; a copy of the database alone gives away no secret.
import { fromBase64, toBase64 } from "./signing";

const utf8 = new TextEncoder();

/** A subscription's secrets: the current one, and rotated ones until their grace ends (wall ms). */
export interface SecretRing {
  current: string;
  previous: { secret: string; expiresAt: number }[];
}

async function keyOf(env: Env): Promise<CryptoKey> {
  const material = env.HYPERFLEET_WEBHOOK_KEY;
  if (!material || material.length < 16) {
    throw new Error("HYPERFLEET_WEBHOOK_KEY is not set (at least 16 characters): subscriptions need it");
  }
  const digest = await crypto.subtle.digest("SHA-256", utf8.encode(material));
  return crypto.subtle.importKey("raw", digest, "AES-GCM", false, ["encrypt", "decrypt"]);
}

export async function sealSecrets(env: Env, ring: SecretRing): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv },
    await keyOf(env),
    utf8.encode(JSON.stringify(ring)),
  );
  return `v1.${toBase64(iv)}.${toBase64(new Uint8Array(ct))}`;
}

export async function openSecrets(env: Env, sealed: string): Promise<SecretRing> {
  const [version, iv, ct] = sealed.split(".");
  if (version !== "v1" || !iv || !ct) throw new Error("unknown sealed secret format");
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: fromBase64(iv) },
    await keyOf(env),
    fromBase64(ct),
  );
  return JSON.parse(new TextDecoder().decode(plain)) as SecretRing;
}

/** The secrets that sign at `now`: the current one first, then those still in their grace. */
export function signingSecrets(ring: SecretRing, now: number): string[] {
  return [ring.current, ...ring.previous.filter((p) => p.expiresAt > now).map((p) => p.secret)];
}
