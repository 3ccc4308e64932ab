// Accounts and their API keys: who may call the API, and as whom. The admin key (a Worker
// secret) operates the fleet; every other key belongs to one account, whose resources are
// the only ones it can see. Keys are checked on every request, so a revocation holds at once.
import { and, asc, count, eq, isNull, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { accounts, apiKeys, type simClock } from "../db/schema";
import type { ClockState } from "../sim/clock";
import { clockColumns, fromRow as clockFromRow } from "./clock";
import type { Fleet } from "./context";
import { ApiError } from "./errors";
import { newAccountId } from "./ids";
import { hashSecret, isAdminKey, KEY_PREFIX, mintKey, parseToken, secretMatches } from "./keys";
import { MAX_KEYS_PER_ACCOUNT } from "./limits";

export type Caller = { role: "admin" } | { role: "tenant"; accountId: string; keyId: string };

/** The fleet acting on its own behalf (the cron's reconcile, the demo seed), or the admin key. */
export const OPERATOR: Caller = { role: "admin" };

/** The account `npm start` makes for its demo key; AWS's documentation uses the same id. */
export const DEMO_ACCOUNT_ID = "123456789012";

export const accountNotFound = (id: string) =>
  new ApiError(404, "InvalidAccountID.NotFound", `The account ID '${id}' does not exist`, { accountId: id });

export const keyNotFound = (id: string) =>
  new ApiError(404, "InvalidKeyID.NotFound", `The key ID '${id}' does not exist`, { keyId: id });

type KeyRow = typeof apiKeys.$inferSelect;
type AccountRow = typeof accounts.$inferSelect;

const iso = (ms: number) => new Date(ms).toISOString();

function accountView(a: AccountRow) {
  return { accountId: a.id, name: a.name, createdAt: iso(a.createdAt) };
}

function keyView(k: KeyRow) {
  return {
    keyId: k.id,
    accountId: k.accountId,
    name: k.name,
    createdAt: iso(k.createdAt),
    revokedAt: k.revokedAt === null ? null : iso(k.revokedAt),
  };
}

/**
 * Who presents `token`: the admin, a tenant through one of its live keys, or nobody. A key
 * is read in one D1 round trip with the clock, which nearly every request reads anyway, so
 * authenticating costs no round trip of its own; the clock comes back with the caller.
 */
export async function authenticate(
  env: Env,
  token: string,
): Promise<{ caller: Caller; clock: ClockState | null } | null> {
  if (await isAdminKey(token, env.HYPERFLEET_ADMIN_KEY)) return { caller: OPERATOR, clock: null };
  const parsed = parseToken(token);
  if (!parsed) return null;
  const row = await env.DB.prepare(KEY_AND_CLOCK_SQL).bind(parsed.keyId).first<KeyAndClockRow>();
  if (!row || row.accountId === null || row.secretHash === null) return null;
  if (!(await secretMatches(parsed.secret, row.secretHash))) return null;
  const { accountId, secretHash: _secretHash, ...clock } = row;
  return {
    caller: { role: "tenant", accountId, keyId: parsed.keyId },
    clock: clock.id === null ? null : clockFromRow(clock as typeof simClock.$inferSelect),
  };
}

/** A live key's account and secret hash, or nulls, beside the clock row, or nulls. */
type KeyAndClockRow = { accountId: string | null; secretHash: string | null } & {
  [K in keyof typeof simClock.$inferSelect]: (typeof simClock.$inferSelect)[K] | null;
};

/**
 * A live key's account and secret hash with the clock, as one plain statement (clockColumns
 * says why plain): always one row, its key columns null when no live key has the id, its
 * clock's when the clock was never set. One statement rather than a batch of two: local D1
 * runs each statement of a batch with reads of its own around it.
 */
const KEY_AND_CLOCK_SQL = `SELECT k.account_id AS accountId, k.secret_hash AS secretHash, ${clockColumns("c")}
  FROM (SELECT 1) LEFT JOIN api_keys AS k ON k.id = ?1 AND k.revoked_at IS NULL
  LEFT JOIN sim_clock AS c ON c.id = 1`;

async function newKeyRow(accountId: string, name: string, createdAt: number) {
  const key = await mintKey();
  const row: KeyRow = {
    id: key.keyId,
    accountId,
    name,
    secretHash: key.secretHash,
    createdAt,
    revokedAt: null,
  };
  return { row, token: key.token };
}

/** A new account and its first key; the key's secret is in this answer and nowhere else. */
export async function createAccount(fleet: Fleet, input: { name: string }) {
  const createdAt = Date.now();
  const account: AccountRow = { id: newAccountId(), name: input.name, createdAt };
  const key = await newKeyRow(account.id, "first key", createdAt);
  // One transaction: an account never exists without its first key.
  await fleet.db.batch([fleet.db.insert(accounts).values(account), fleet.db.insert(apiKeys).values(key.row)]);
  return { account: accountView(account), key: { ...keyView(key.row), apiKey: key.token } };
}

/** The account, if the caller may see it: the admin sees every account, a tenant its own. */
async function requireAccount(fleet: Fleet, accountId: string): Promise<AccountRow> {
  const caller = fleet.caller;
  if (caller.role === "tenant" && caller.accountId !== accountId) throw accountNotFound(accountId);
  const row = await fleet.db.select().from(accounts).where(eq(accounts.id, accountId)).get();
  if (!row) throw accountNotFound(accountId);
  return row;
}

export async function addKey(fleet: Fleet, accountId: string, input: { name: string }) {
  await requireAccount(fleet, accountId);
  const key = await newKeyRow(accountId, input.name, Date.now());
  // Counted and inserted in one statement, so that concurrent requests cannot pass the limit.
  const r = key.row;
  const added = await fleet.db.run(
    sql`INSERT INTO ${apiKeys} (${sql.identifier("id")}, ${sql.identifier("account_id")}, ${sql.identifier("name")}, ${sql.identifier("secret_hash")}, ${sql.identifier("created_at")}, ${sql.identifier("revoked_at")})
        SELECT ${r.id}, ${r.accountId}, ${r.name}, ${r.secretHash}, ${r.createdAt}, NULL
        WHERE (SELECT ${count()} FROM ${apiKeys} WHERE ${apiKeys.accountId} = ${accountId}) < ${MAX_KEYS_PER_ACCOUNT}`,
  );
  if (added.meta.changes === 0) {
    throw new ApiError(
      409,
      "LimitExceeded",
      `An account may have at most ${MAX_KEYS_PER_ACCOUNT} keys, revoked ones included`,
    );
  }
  return { ...keyView(key.row), apiKey: key.token };
}

export async function listKeys(fleet: Fleet, accountId: string) {
  await requireAccount(fleet, accountId);
  const rows = await fleet.db
    .select()
    .from(apiKeys)
    .where(eq(apiKeys.accountId, accountId))
    .orderBy(asc(apiKeys.createdAt), asc(apiKeys.id));
  return { keys: rows.map(keyView) };
}

/** Revokes a key from the next request on. Revoking a revoked key changes nothing. */
export async function revokeKey(fleet: Fleet, keyId: string) {
  const caller = fleet.caller;
  const row = await fleet.db.select().from(apiKeys).where(eq(apiKeys.id, keyId)).get();
  if (!row || (caller.role === "tenant" && row.accountId !== caller.accountId)) throw keyNotFound(keyId);
  if (row.revokedAt !== null) return keyView(row);
  const revoked = await fleet.db
    .update(apiKeys)
    .set({ revokedAt: Date.now() })
    .where(and(eq(apiKeys.id, keyId), isNull(apiKeys.revokedAt)))
    .returning()
    .get();
  return keyView(revoked ?? row);
}

/** Who the caller is: the admin, or a tenant's account and the key it used. */
export async function whoAmI(fleet: Fleet) {
  const caller = fleet.caller;
  if (caller.role === "admin") return { role: "admin" as const, account: null, keyId: null };
  const account = await requireAccount(fleet, caller.accountId);
  return { role: "tenant" as const, account: accountView(account), keyId: caller.keyId };
}

/**
 * Registers the demo tenant's key from the environment (`npm start` writes it to
 * .dev.vars): the demo account owns nothing until the key launches something.
 */
export async function registerDemoKey(db: Db, token: string | undefined): Promise<void> {
  // Any value that is not an hfk_ key (a deployment without a demo, "none") means no demo tenant.
  if (!token?.startsWith(KEY_PREFIX)) return;
  const parsed = parseToken(token);
  if (!parsed) {
    console.warn("HYPERFLEET_DEMO_KEY is not a well-formed hfk_ key; the demo tenant has no key");
    return;
  }
  const now = Date.now();
  await db.batch([
    db.insert(accounts).values({ id: DEMO_ACCOUNT_ID, name: "demo", createdAt: now }).onConflictDoNothing(),
    db
      .insert(apiKeys)
      .values({
        id: parsed.keyId,
        accountId: DEMO_ACCOUNT_ID,
        name: "demo key (HYPERFLEET_DEMO_KEY)",
        secretHash: await hashSecret(parsed.secret),
        createdAt: now,
        revokedAt: null,
      })
      .onConflictDoNothing(),
  ]);
}
