// Access keys for the EC2 Query API: an access key id (AKIA and 16 base32 characters, as
// AWS's) and a 40-character secret, shown once. SigV4 signs with the secret itself, so the
// fleet must be able to read it back: it is stored encrypted with AES-256-GCM under a key
// derived (HKDF-SHA256) from the Worker secret HYPERFLEET_SECRETS_KEY, the key id and
// account bound in as associated data, so a ciphertext copied to another row fails to open.
import { and, asc, count, eq, isNull, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { accessKeys, accounts } from "../db/schema";
import type { ClockState } from "../sim/clock";
import { accountNotFound, type Caller } from "./accounts";
import { fromRow as clockFromRow, clockQuery } from "./clock";
import type { Fleet } from "./context";
import { ApiError } from "./errors";
import { MAX_ACCESS_KEYS_PER_ACCOUNT } from "./limits";

export const ACCESS_KEY_ID = /^AKIA[A-Z2-7]{16}$/;
/** HYPERFLEET_SECRETS_KEY shorter than this is refused: it would not hold 128 bits. */
const MIN_SECRETS_KEY_LENGTH = 22;

type Row = typeof accessKeys.$inferSelect;

export const accessKeyNotFound = (id: string) =>
  new ApiError(404, "InvalidAccessKeyId.NotFound", `The access key ID '${id}' does not exist`, {
    accessKeyId: id,
  });

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function newAccessKeyId(): string {
  // 16 characters of 5 bits each from 10 random bytes.
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  let bits = 0;
  let value = 0;
  let out = "AKIA";
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

const toBase64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const fromBase64 = (text: string) => Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
const utf8 = new TextEncoder();

/** 30 random bytes in base64: 40 characters, AWS's secret length, 240 bits. */
const newSecret = () => toBase64(crypto.getRandomValues(new Uint8Array(30)));

const keys = new Map<string, Promise<CryptoKey>>();

/** The AES key for access-key secrets, derived once per isolate from the Worker secret. */
function encryptionKey(env: Env): Promise<CryptoKey> {
  const material = env.HYPERFLEET_SECRETS_KEY;
  if (!material || material.length < MIN_SECRETS_KEY_LENGTH) {
    throw new ApiError(
      503,
      "Unavailable",
      "Access keys are unavailable: the Worker secret HYPERFLEET_SECRETS_KEY is missing or too short",
    );
  }
  let key = keys.get(material);
  if (!key) {
    key = (async () => {
      const base = await crypto.subtle.importKey("raw", utf8.encode(material), "HKDF", false, ["deriveKey"]);
      return crypto.subtle.deriveKey(
        {
          name: "HKDF",
          hash: "SHA-256",
          salt: new Uint8Array(0),
          info: utf8.encode("hyperfleet access-key secrets v1"),
        },
        base,
        { name: "AES-GCM", length: 256 },
        false,
        ["encrypt", "decrypt"],
      );
    })();
    keys.set(material, key);
  }
  return key;
}

const aad = (id: string, accountId: string) => utf8.encode(`${id}/${accountId}`);

async function seal(env: Env, id: string, accountId: string, secret: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: aad(id, accountId) },
    await encryptionKey(env),
    utf8.encode(secret),
  );
  const out = new Uint8Array(iv.length + sealed.byteLength);
  out.set(iv);
  out.set(new Uint8Array(sealed), iv.length);
  return toBase64(out);
}

async function open(env: Env, row: Pick<Row, "id" | "accountId" | "secretCiphertext">): Promise<string> {
  const bytes = fromBase64(row.secretCiphertext);
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: bytes.subarray(0, 12), additionalData: aad(row.id, row.accountId) },
    await encryptionKey(env),
    bytes.subarray(12),
  );
  return new TextDecoder().decode(plain);
}

const iso = (ms: number) => new Date(ms).toISOString();

function view(r: Row) {
  return {
    accessKeyId: r.id,
    accountId: r.accountId,
    status: r.revokedAt === null ? ("Active" as const) : ("Inactive" as const),
    createdAt: iso(r.createdAt),
    revokedAt: r.revokedAt === null ? null : iso(r.revokedAt),
  };
}

/** The account, if the caller may act on it: the admin on every account, a tenant on its own. */
async function requireAccount(fleet: Fleet, accountId: string): Promise<void> {
  const caller = fleet.caller;
  if (caller.role === "tenant" && caller.accountId !== accountId) throw accountNotFound(accountId);
  const row = await fleet.db
    .select({ id: accounts.id })
    .from(accounts)
    .where(eq(accounts.id, accountId))
    .get();
  if (!row) throw accountNotFound(accountId);
}

/** A new access key; its secret is in this answer and, in the clear, nowhere else. */
export async function createAccessKey(fleet: Fleet, accountId: string) {
  await requireAccount(fleet, accountId);
  const id = newAccessKeyId();
  const secret = newSecret();
  const row: Row = {
    id,
    accountId,
    secretCiphertext: await seal(fleet.env, id, accountId, secret),
    createdAt: Date.now(),
    revokedAt: null,
  };
  // Counted and inserted in one statement, so that concurrent requests cannot pass the limit.
  const added = await fleet.db.run(
    sql`INSERT INTO ${accessKeys} (${sql.identifier("id")}, ${sql.identifier("account_id")}, ${sql.identifier("secret_ciphertext")}, ${sql.identifier("created_at")}, ${sql.identifier("revoked_at")})
        SELECT ${row.id}, ${row.accountId}, ${row.secretCiphertext}, ${row.createdAt}, NULL
        WHERE (SELECT ${count()} FROM ${accessKeys} WHERE ${accessKeys.accountId} = ${accountId}) < ${MAX_ACCESS_KEYS_PER_ACCOUNT}`,
  );
  if (added.meta.changes === 0) {
    throw new ApiError(
      409,
      "AccessKeyLimitExceeded",
      `An account may have at most ${MAX_ACCESS_KEYS_PER_ACCOUNT} access keys, inactive ones included`,
    );
  }
  return { ...view(row), secretAccessKey: secret };
}

export async function listAccessKeys(fleet: Fleet, accountId: string) {
  await requireAccount(fleet, accountId);
  const rows = await fleet.db
    .select()
    .from(accessKeys)
    .where(eq(accessKeys.accountId, accountId))
    .orderBy(asc(accessKeys.createdAt), asc(accessKeys.id));
  return { accessKeys: rows.map(view) };
}

/** Deactivates an access key from the next request on; its row stays, so its id still names it. */
export async function revokeAccessKey(fleet: Fleet, id: string) {
  const caller = fleet.caller;
  const row = await fleet.db.select().from(accessKeys).where(eq(accessKeys.id, id)).get();
  if (!row || (caller.role === "tenant" && row.accountId !== caller.accountId)) throw accessKeyNotFound(id);
  if (row.revokedAt !== null) return view(row);
  const revoked = await fleet.db
    .update(accessKeys)
    .set({ revokedAt: Date.now() })
    .where(and(eq(accessKeys.id, id), isNull(accessKeys.revokedAt)))
    .returning()
    .get();
  return view(revoked ?? row);
}

/**
 * The live access key `id`, its secret opened, and the clock read in the same D1 round trip
 * (as fleet/accounts.ts does for bearer keys); null when there is no such active key.
 */
export async function accessKeySecret(
  env: Env,
  db: Db,
  id: string,
): Promise<{ caller: Caller & { role: "tenant" }; secret: string; clock: ClockState | null } | null> {
  if (!ACCESS_KEY_ID.test(id)) return null;
  const [rows, clocks] = await db.batch([
    db
      .select()
      .from(accessKeys)
      .where(and(eq(accessKeys.id, id), isNull(accessKeys.revokedAt))),
    clockQuery(db),
  ]);
  const row = rows[0];
  if (!row) return null;
  let secret: string;
  try {
    secret = await open(env, row);
  } catch (err) {
    if (err instanceof ApiError) throw err;
    // A ciphertext that does not open under this key and row (HYPERFLEET_SECRETS_KEY changed,
    // or the row was altered) authenticates nobody.
    console.error("an access key's secret did not decrypt", row.id, err);
    return null;
  }
  return {
    caller: { role: "tenant", accountId: row.accountId, keyId: row.id },
    secret,
    clock: clocks[0] ? clockFromRow(clocks[0]) : null,
  };
}
