// Webhook subscriptions: a tenant's receiver URL, the event types (with wildcards) and
// resources it wants, and its signing secrets, sealed at rest (events/secrets.ts). The
// secret is shown once, when made or rotated; a rotated one keeps signing for its grace.
import { and, asc, eq, gt } from "drizzle-orm";
import { subscriptions } from "../db/schema";
import { allowsLoopback, checkOutbound } from "../events/outbound";
import { openSecrets, type SecretRing, sealSecrets } from "../events/secrets";
import { newSigningSecret } from "../events/signing";
import { isTypePattern } from "../events/types";
import type { Fleet } from "./context";
import { ApiError, invalidParameter } from "./errors";
import { newId } from "./ids";
import {
  MAX_SUBSCRIPTION_RESOURCES,
  MAX_SUBSCRIPTION_TYPES,
  MAX_SUBSCRIPTIONS_PER_ACCOUNT,
  ROTATION_GRACE_DEFAULT_SECONDS,
  ROTATION_GRACE_MAX_SECONDS,
  URL_MAX_LENGTH,
} from "./limits";
import { creatorAccount, ownedBy } from "./ownership";
import { pageOf } from "./paging";

export interface SubscriptionInput {
  url: string;
  eventTypes: string[];
  resourceIds?: string[] | null;
  enabled?: boolean;
}

type Row = typeof subscriptions.$inferSelect;

export interface SubscriptionView {
  subscriptionId: string;
  url: string;
  eventTypes: string[];
  resourceIds: string[] | null;
  enabled: boolean;
  disabledReason: string | null;
  /** Rotated secrets that still sign beside the current one, by when each stops. */
  previousSecretsExpire: string[];
  createdAt: string;
  updatedAt: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

export const subscriptionNotFound = (id: string) =>
  new ApiError(404, "InvalidSubscriptionID.NotFound", `The subscription ID '${id}' does not exist`, {
    subscriptionId: id,
  });

async function viewOf(fleet: Fleet, r: Row): Promise<SubscriptionView> {
  const ring = await openSecrets(fleet.env, r.secrets);
  const now = Date.now();
  return {
    subscriptionId: r.id,
    url: r.url,
    eventTypes: JSON.parse(r.eventTypes),
    resourceIds: r.resourceIds === null ? null : JSON.parse(r.resourceIds),
    enabled: r.enabled === 1,
    disabledReason: r.disabledReason,
    previousSecretsExpire: ring.previous.filter((p) => p.expiresAt > now).map((p) => iso(p.expiresAt)),
    createdAt: iso(r.createdAt),
    updatedAt: iso(r.updatedAt),
  };
}

function checkInput(fleet: Fleet, s: Partial<SubscriptionInput>): void {
  if (s.url !== undefined) {
    if (s.url.length > URL_MAX_LENGTH) throw invalidParameter("url", `at most ${URL_MAX_LENGTH} characters`);
    const verdict = checkOutbound(s.url, allowsLoopback(fleet.env));
    if (verdict.refused) throw invalidParameter("url", verdict.reason);
  }
  if (s.eventTypes !== undefined) {
    if (s.eventTypes.length < 1 || s.eventTypes.length > MAX_SUBSCRIPTION_TYPES) {
      throw invalidParameter("eventTypes", `1 to ${MAX_SUBSCRIPTION_TYPES} patterns`);
    }
    s.eventTypes.forEach((p, i) => {
      if (!isTypePattern(p)) {
        throw invalidParameter(
          `eventTypes[${i}]`,
          "must be an event type, '*', or a type prefix then '.*' (instance.*)",
        );
      }
    });
  }
  if (s.resourceIds && s.resourceIds.length > MAX_SUBSCRIPTION_RESOURCES) {
    throw invalidParameter("resourceIds", `at most ${MAX_SUBSCRIPTION_RESOURCES} ids`);
  }
}

async function ownRow(fleet: Fleet, id: string): Promise<Row> {
  const [row] = await fleet.db
    .select()
    .from(subscriptions)
    .where(and(eq(subscriptions.id, id), ownedBy(fleet.caller, subscriptions.accountId)));
  if (!row) throw subscriptionNotFound(id);
  return row;
}

export async function createSubscription(fleet: Fleet, input: SubscriptionInput) {
  const accountId = creatorAccount(fleet.caller);
  checkInput(fleet, input);
  const secret = newSigningSecret();
  const now = Date.now();
  const row: Row = {
    id: newId("sub"),
    accountId,
    url: input.url,
    eventTypes: JSON.stringify(input.eventTypes),
    resourceIds: input.resourceIds ? JSON.stringify(input.resourceIds) : null,
    enabled: input.enabled === false ? 0 : 1,
    disabledReason: null,
    secrets: await sealSecrets(fleet.env, { current: secret, previous: [] }),
    failingSince: null,
    createdAt: now,
    updatedAt: now,
  };
  // The count and the insert in one statement, so that concurrent creates cannot pass the limit.
  const d1 = fleet.db.$client;
  const res = await d1
    .prepare(
      `INSERT INTO subscriptions (id, account_id, url, event_types, resource_ids, enabled, disabled_reason, secrets, failing_since, created_at, updated_at)
       SELECT ?, ?, ?, ?, ?, ?, NULL, ?, NULL, ?, ? WHERE (SELECT count(*) FROM subscriptions WHERE account_id = ?) < ?`,
    )
    .bind(
      row.id,
      accountId,
      row.url,
      row.eventTypes,
      row.resourceIds,
      row.enabled,
      row.secrets,
      now,
      now,
      accountId,
      MAX_SUBSCRIPTIONS_PER_ACCOUNT,
    )
    .run();
  if (res.meta.changes !== 1) {
    throw new ApiError(
      400,
      "SubscriptionLimitExceeded",
      `An account may have at most ${MAX_SUBSCRIPTIONS_PER_ACCOUNT} subscriptions`,
    );
  }
  return { subscription: await viewOf(fleet, row), secret };
}

export async function listSubscriptions(fleet: Fleet, f: { cursor?: string; limit: number }) {
  const rows = await fleet.db
    .select()
    .from(subscriptions)
    .where(
      and(
        ownedBy(fleet.caller, subscriptions.accountId),
        f.cursor ? gt(subscriptions.id, f.cursor) : undefined,
      ),
    )
    .orderBy(asc(subscriptions.id))
    .limit(f.limit + 1);
  const { page, nextCursor } = pageOf(rows, f.limit, (r) => r.id);
  return { subscriptions: await Promise.all(page.map((r) => viewOf(fleet, r))), nextCursor };
}

export async function getSubscription(fleet: Fleet, id: string) {
  return viewOf(fleet, await ownRow(fleet, id));
}

export async function updateSubscription(fleet: Fleet, id: string, change: Partial<SubscriptionInput>) {
  checkInput(fleet, change);
  const row = await ownRow(fleet, id);
  const set: Partial<Row> = { updatedAt: Date.now() };
  if (change.url !== undefined) set.url = change.url;
  if (change.eventTypes !== undefined) set.eventTypes = JSON.stringify(change.eventTypes);
  if (change.resourceIds !== undefined)
    set.resourceIds = change.resourceIds ? JSON.stringify(change.resourceIds) : null;
  if (change.enabled !== undefined) {
    set.enabled = change.enabled ? 1 : 0;
    // Enabling again starts the failure clock afresh.
    if (change.enabled) Object.assign(set, { disabledReason: null, failingSince: null });
  }
  await fleet.db.update(subscriptions).set(set).where(eq(subscriptions.id, row.id));
  return viewOf(fleet, { ...row, ...set });
}

export async function deleteSubscription(fleet: Fleet, id: string): Promise<void> {
  const row = await ownRow(fleet, id);
  await fleet.db.delete(subscriptions).where(eq(subscriptions.id, row.id));
}

/**
 * A new current secret; the old one keeps signing beside it for `graceSeconds` (0 ends it
 * now), so that a receiver can move to the new secret without refusing a delivery.
 */
export async function rotateSecret(fleet: Fleet, id: string, graceSeconds = ROTATION_GRACE_DEFAULT_SECONDS) {
  if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > ROTATION_GRACE_MAX_SECONDS) {
    throw invalidParameter("graceSeconds", `must be an integer from 0 to ${ROTATION_GRACE_MAX_SECONDS}`);
  }
  const row = await ownRow(fleet, id);
  const now = Date.now();
  const ring = await openSecrets(fleet.env, row.secrets);
  const secret = newSigningSecret();
  const next: SecretRing = {
    current: secret,
    previous: [
      ...ring.previous.filter((p) => p.expiresAt > now),
      ...(graceSeconds > 0 ? [{ secret: ring.current, expiresAt: now + graceSeconds * 1000 }] : []),
    ],
  };
  const sealed = await sealSecrets(fleet.env, next);
  // Conditional on the sealed ring read: two rotations at once cannot drop each other's secret.
  const res = await fleet.db.$client
    .prepare("UPDATE subscriptions SET secrets = ?, updated_at = ? WHERE id = ? AND secrets = ?")
    .bind(sealed, now, row.id, row.secrets)
    .run();
  if (res.meta.changes !== 1) {
    throw new ApiError(
      409,
      "ConcurrentModification",
      "The subscription's secret changed meanwhile; rotate again",
    );
  }
  return { subscription: await viewOf(fleet, { ...row, secrets: sealed, updatedAt: now }), secret };
}
