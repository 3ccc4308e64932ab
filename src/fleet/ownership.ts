// Ownership: every tenant resource carries its account from birth, and a tenant's reads and
// changes reach only its own. Another account's resource is not found (404), never
// forbidden, so that its existence is not given away. The admin sees every account's.
import { eq, type SQL } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import type { Caller } from "./accounts";

/** The condition that keeps a query to the caller's rows; none for the admin. */
export function ownedBy(caller: Caller, accountColumn: SQLiteColumn): SQL | undefined {
  return caller.role === "tenant" ? eq(accountColumn, caller.accountId) : undefined;
}

/** Whether the caller may see a resource of `accountId`. */
export function sees(caller: Caller, accountId: string | null | undefined): boolean {
  return caller.role === "admin" || accountId === caller.accountId;
}

/**
 * The account a new resource belongs to. Only a tenant creates tenant resources: the access
 * table refuses the admin key first, and this refuses it again should a route forget.
 */
export function creatorAccount(caller: Caller): string {
  if (caller.role !== "tenant") throw new Error("only an account's key creates tenant resources");
  return caller.accountId;
}
