// Client tokens, EC2's idempotency for launches: the first launch with a token takes it,
// a retry with the same parameters answers with that launch (waiting while it runs), and
// a retry with other parameters is refused. The tokens live in D1, one row each, and
// belong to the account that used them: two accounts' equal tokens are two tokens.
import { and, asc, eq, inArray } from "drizzle-orm";
import { clientTokens, instances } from "../db/schema";
import type { Fleet } from "./context";
import { ApiError } from "./errors";
import { sha256Hex } from "./ids";
import { type InstanceView, rowView } from "./instance-view";
import { MAX_LAUNCH_COUNT } from "./limits";
import { creatorAccount } from "./ownership";

/** A pending token older than this belongs to a launch that died; another may take it over. */
const TOKEN_STALE_MS = 5 * 60_000;

export type Replay = { reservationId: string; instances: InstanceView[] };

/** A launch's parameters, as far as a token needs to know them. */
type Params = { clientToken?: string; tags: Record<string, string> };

/** What a token stands for: every parameter of the launch but the token, tags in order. */
function paramsOf<P extends Params>(params: P): string {
  const { clientToken: _t, ...rest } = params;
  const tags = Object.fromEntries(Object.entries(rest.tags).sort(([a], [b]) => (a < b ? -1 : 1)));
  return JSON.stringify({ ...rest, tags });
}

/** The account's token. */
const tokenOf = (accountId: string, token: string) =>
  and(eq(clientTokens.accountId, accountId), eq(clientTokens.token, token));

/** The token's row while the launch `reservationId` holds it. */
const heldBy = (accountId: string, token: string, reservationId: string) =>
  and(tokenOf(accountId, token), eq(clientTokens.reservationId, reservationId));

const inProgress = (token: string) =>
  new ApiError(
    409,
    "IdempotentInstanceInProgress",
    `clientToken: a launch with '${token}' is still in progress`,
  );

/** Waits for a concurrent launch with the token; null when the token is free to take. */
async function tokenReplay(
  fleet: Fleet,
  accountId: string,
  token: string,
  paramsHash: string,
): Promise<Replay | null> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const row = await fleet.db.select().from(clientTokens).where(tokenOf(accountId, token)).get();
    if (!row) return null;
    if (row.paramsHash !== paramsHash) {
      throw new ApiError(
        409,
        "IdempotentParameterMismatch",
        `clientToken: '${token}' was already used with different parameters`,
        { clientToken: token },
      );
    }
    if (row.status === "done") {
      const ids = JSON.parse(row.instanceIds) as string[];
      const rows = ids.length
        ? await fleet.db.select().from(instances).where(inArray(instances.id, ids)).orderBy(asc(instances.id))
        : [];
      return { reservationId: row.reservationId, instances: rows.map(rowView) };
    }
    if (Date.now() - row.createdAt > TOKEN_STALE_MS) {
      // A launch that never completed its token may still have launched (its answer said
      // so, or its host went silent): its instances carry its reservation and its account.
      const launched = await fleet.db
        .select()
        .from(instances)
        .where(and(eq(instances.reservationId, row.reservationId), eq(instances.accountId, accountId)))
        .orderBy(asc(instances.id))
        .limit(MAX_LAUNCH_COUNT);
      if (launched.length > 0) {
        const ids = launched.map((r) => r.id);
        await completeToken(fleet, token, row.reservationId, ids);
        return {
          reservationId: row.reservationId,
          instances: launched.map(rowView),
        };
      }
      await fleet.db.delete(clientTokens).where(heldBy(accountId, token, row.reservationId));
      return null;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw inProgress(token);
}

/**
 * Takes `token` for the launch `reservationId` (null), or answers with the launch that
 * already has it. `params` are the launch's, so that another launch cannot reuse the token.
 */
export async function takeToken<P extends Params>(
  fleet: Fleet,
  token: string,
  params: P,
  reservationId: string,
): Promise<Replay | null> {
  const accountId = creatorAccount(fleet.caller);
  const paramsHash = await sha256Hex(paramsOf(params));
  for (let round = 0; round < 3; round++) {
    const taken = await fleet.db
      .insert(clientTokens)
      .values({
        accountId,
        token,
        paramsHash,
        status: "pending",
        reservationId,
        instanceIds: "[]",
        createdAt: Date.now(),
      })
      .onConflictDoNothing()
      .returning({ token: clientTokens.token });
    if (taken.length > 0) return null;
    const replay = await tokenReplay(fleet, accountId, token, paramsHash);
    if (replay) return replay;
  }
  throw inProgress(token);
}

/** Gives the token back after a launch that launched nothing, so a retry may take it. */
export async function releaseToken(fleet: Fleet, token: string, reservationId: string): Promise<void> {
  await fleet.db.delete(clientTokens).where(heldBy(creatorAccount(fleet.caller), token, reservationId));
}

/** Records what the launch launched: from now on the token answers with these instances. */
export async function completeToken(
  fleet: Fleet,
  token: string,
  reservationId: string,
  instanceIds: string[],
): Promise<void> {
  await fleet.db
    .update(clientTokens)
    .set({ status: "done", instanceIds: JSON.stringify(instanceIds) })
    .where(heldBy(creatorAccount(fleet.caller), token, reservationId));
}
