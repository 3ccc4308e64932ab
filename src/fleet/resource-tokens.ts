// Client tokens of calls that make one resource (CreateVolume, AllocateHosts), EC2's idempotency: the
// first call with a token makes the resource and keeps the token beside it, in the same D1 batch; a
// retry with the same parameters answers with that resource; one with other parameters is refused with
// IdempotentParameterMismatch. Two calls racing with one token both do the work, and D1's key lets one
// batch land: the other undoes what it made outside D1 and answers as a retry would.
import { and, eq } from "drizzle-orm";
import { resourceTokens } from "../db/schema";
import type { Fleet } from "./context";
import { ApiError } from "./errors";
import { sha256Hex } from "./ids";
import type { Statement } from "./mirror";

export type TokenKind = "volume" | "host";

export interface Token {
  accountId: string;
  kind: TokenKind;
  token: string;
  paramsHash: string;
}

/** The token and a digest of every parameter of the call but the token, keys in order. */
export async function tokenFor(
  accountId: string,
  kind: TokenKind,
  token: string,
  params: Record<string, unknown>,
): Promise<Token> {
  const sorted = Object.fromEntries(
    Object.entries(params)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
  return { accountId, kind, token, paramsHash: await sha256Hex(JSON.stringify(sorted)) };
}

const mismatch = (t: Token) =>
  new ApiError(
    409,
    "IdempotentParameterMismatch",
    `clientToken: '${t.token}' was already used with different parameters`,
    { clientToken: t.token },
  );

/** The resource an earlier call with the token made, or null if none did; refuses other parameters. */
export async function tokenResource(fleet: Fleet, t: Token): Promise<string | null> {
  const row = await fleet.db
    .select()
    .from(resourceTokens)
    .where(
      and(
        eq(resourceTokens.accountId, t.accountId),
        eq(resourceTokens.kind, t.kind),
        eq(resourceTokens.token, t.token),
      ),
    )
    .get();
  if (!row) return null;
  if (row.paramsHash !== t.paramsHash) throw mismatch(t);
  return row.resourceId;
}

/** The statement that keeps the token with the resource, for the batch that makes the resource. */
export function keepToken(t: Token, resourceId: string, now: number): Statement {
  return {
    sql: "INSERT INTO resource_tokens (account_id, kind, token, params_hash, resource_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
    params: [t.accountId, t.kind, t.token, t.paramsHash, resourceId, now],
  };
}

/** Whether a batch failed because another call kept the token first. */
export function lostTokenRace(err: unknown): boolean {
  return /UNIQUE constraint failed: resource_tokens\./.test(String(err instanceof Error ? err.message : err));
}
