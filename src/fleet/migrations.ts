// Live migrations as a tenant (or the operator) sees them: start one, read it shaped like QEMU's
// query-migrate, list them, cancel one. The work itself is migration-steps.ts, on the queue.
import { and, asc, eq, gt, ne, type SQL } from "drizzle-orm";
import { hosts, instances, migrations } from "../db/schema";
import { findInstanceType } from "../sim/catalog";
import { wallTimeAt } from "../sim/clock";
import type { MigrationMode, MigrationParams, MigrationReport, PolicyName } from "../sim/migration";
import type { Fleet } from "./context";
import { ApiError, hostNotFound, invalidParameter } from "./errors";
import { newId } from "./ids";
import { requireInstanceRow } from "./instance-queries";
import { rowToRecord } from "./instance-rows";
import { MIGRATION_PAGE_MAX } from "./limits";
import { type MigrationRow, migrationEvent, type StepMessage, TERMINAL_STATUSES } from "./migration-steps";
import { mirrorApplied } from "./mirror";
import { ownedBy, sees } from "./ownership";

export interface StartMigrationInput {
  destinationHostId?: string;
  mode: MigrationMode;
  policy?: PolicyName;
  bandwidthMbps?: number;
  downtimeLimitMs?: number;
  autoConverge?: boolean;
  postcopyOnNonConvergence?: boolean;
  /** Instance store does not move: a migration of an instance that has it must accept losing it. */
  acceptInstanceStoreLoss?: boolean;
  guest?: { writableWorkingSetMiB: number; hotPageWritesPerSec: number; coldPageWritesPerSec: number };
}

export const migrationNotFound = (id: string) =>
  new ApiError(404, "InvalidMigrationID.NotFound", `The migration ID '${id}' does not exist`, {
    migrationId: id,
  });

/** Queues hold a message back at most this long (Cloudflare Queues' limit on delaySeconds). */
const MAX_DELAY_SECONDS = 12 * 3600;

/**
 * Sends the steps; a failed send leaves the row where it is, for reconcile to send again. A step
 * due later in simulated time is held back until the wall time at which the clock gets there; on a
 * manual clock only an advance gets there, and the advance sends it (resumeDueMigrations).
 */
export async function sendSteps(fleet: Fleet, steps: readonly StepMessage[]): Promise<void> {
  if (steps.length === 0) return;
  const clock = await fleet.clock();
  const now = await fleet.now();
  const batch: MessageSendRequest<StepMessage>[] = [];
  for (const body of steps) {
    if (body.at === undefined || body.at <= now) {
      batch.push({ body, contentType: "json" });
      continue;
    }
    const wall = wallTimeAt(clock, body.at);
    if (wall === undefined) continue;
    const delaySeconds = Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.ceil((wall - Date.now()) / 1000)));
    batch.push({ body, contentType: "json", delaySeconds });
  }
  if (batch.length === 0) return;
  try {
    await fleet.env.MIGRATIONS.sendBatch(batch);
  } catch (err) {
    console.warn("sending migration steps failed; reconcile sends them again", err);
  }
}

/** Checks and records a migration of `instanceId`; its steps start on the queue. */
export async function createMigration(
  fleet: Fleet,
  instanceId: string,
  input: StartMigrationInput,
  evacuationId: string | null = null,
  id: string = newId("mig"),
): Promise<MigrationRow> {
  const row = await requireInstanceRow(fleet, instanceId);
  if (row.state !== "running" || !row.hostId) {
    throw new ApiError(
      409,
      "IncorrectInstanceState",
      `The instance '${instanceId}' is not in a state from which it can be migrated (it is ${row.state})`,
      { instanceId, state: row.state },
    );
  }
  const type = findInstanceType(row.instanceType)!;
  if (type.instanceStorage.totalGB > 0 && !input.acceptInstanceStoreLoss) {
    throw new ApiError(
      400,
      "UnsupportedOperation",
      `acceptInstanceStoreLoss: the instance '${instanceId}' (${row.instanceType}) has ${type.instanceStorage.totalGB} GB of instance store, whose data does not move with it; set acceptInstanceStoreLoss to migrate it and lose that data`,
      { field: "acceptInstanceStoreLoss", instanceId },
    );
  }
  if (input.destinationHostId !== undefined) {
    if (fleet.caller.role !== "admin")
      throw invalidParameter("destinationHostId", "only the fleet's operator names a destination host");
    const dest = await fleet.db.select().from(hosts).where(eq(hosts.id, input.destinationHostId)).get();
    if (!dest) throw hostNotFound(input.destinationHostId);
    if (dest.id === row.hostId) throw invalidParameter("destinationHostId", "is the instance's own host");
    if (dest.family !== row.family)
      throw invalidParameter(
        "destinationHostId",
        `is a ${dest.family} host; the instance needs a ${row.family} host`,
      );
    if (dest.state !== "available")
      throw invalidParameter("destinationHostId", `is ${dest.state}; only an available host takes instances`);
  }
  if (input.guest && input.guest.writableWorkingSetMiB > row.memoryMiB)
    throw invalidParameter(
      "guest.writableWorkingSetMiB",
      `must not exceed the instance's ${row.memoryMiB} MiB`,
    );
  const params: MigrationParams = {
    mode: input.mode,
    ...(input.policy ? { policy: input.policy } : {}),
    ...(input.bandwidthMbps !== undefined ? { bandwidthMbps: input.bandwidthMbps } : {}),
    ...(input.downtimeLimitMs !== undefined ? { downtimeLimitMs: input.downtimeLimitMs } : {}),
    ...(input.autoConverge !== undefined ? { autoConverge: input.autoConverge } : {}),
    ...(input.postcopyOnNonConvergence !== undefined
      ? { postcopyOnNonConvergence: input.postcopyOnNonConvergence }
      : {}),
    ...(input.guest
      ? {
          guest: {
            hotBytes: input.guest.writableWorkingSetMiB * 1024 * 1024,
            hotWritesPerSec: input.guest.hotPageWritesPerSec,
            coldWritesPerSec: input.guest.coldPageWritesPerSec,
          },
        }
      : {}),
  };
  const now = await fleet.now();
  const record: MigrationRow = {
    id,
    accountId: row.accountId,
    instanceId,
    sourceHostId: row.hostId,
    destinationHostId: input.destinationHostId ?? null,
    requestedDestination: input.destinationHostId !== undefined,
    status: "setup",
    step: "reserve",
    params: JSON.stringify(params),
    report: null,
    reason: null,
    evacuationId,
    version: 1,
    createdAt: now,
    updatedAt: now,
    startedAt: null,
    switchAt: null,
    lastPageAt: null,
  };
  try {
    await fleet.db.insert(migrations).values(record);
  } catch (err) {
    const open = await fleet.db
      .select({ id: migrations.id })
      .from(migrations)
      .where(and(eq(migrations.instanceId, instanceId), ne(migrations.step, "done")))
      .get();
    if (!open) throw err;
    throw new ApiError(
      409,
      "IncorrectInstanceState",
      `The instance '${instanceId}' is already being migrated (${open.id})`,
      { instanceId, migrationId: open.id },
    );
  }
  const ev = migrationEvent(record, null, "setup", now, rowToRecord(row));
  await mirrorApplied(fleet.db, [ev]);
  await fleet.publish([ev]);
  await sendSteps(fleet, [{ migrationId: record.id, step: "reserve" }]);
  return record;
}

export async function startMigration(fleet: Fleet, instanceId: string, input: StartMigrationInput) {
  return migrationView(await createMigration(fleet, instanceId, input));
}

async function requireMigration(fleet: Fleet, id: string): Promise<MigrationRow> {
  const row = await fleet.db.select().from(migrations).where(eq(migrations.id, id)).get();
  if (!row || !sees(fleet.caller, row.accountId)) throw migrationNotFound(id);
  return row;
}

export async function describeMigration(fleet: Fleet, id: string) {
  return migrationView(await requireMigration(fleet, id));
}

export interface MigrationFilter {
  instanceId?: string;
  status?: string;
  cursor?: string;
  limit: number;
}

export async function listMigrations(fleet: Fleet, f: MigrationFilter) {
  const limit = Math.min(f.limit, MIGRATION_PAGE_MAX);
  const where: (SQL | undefined)[] = [ownedBy(fleet.caller, migrations.accountId)];
  if (f.instanceId) where.push(eq(migrations.instanceId, f.instanceId));
  if (f.status) where.push(eq(migrations.status, f.status));
  if (f.cursor) where.push(gt(migrations.id, f.cursor));
  const rows = await fleet.db
    .select()
    .from(migrations)
    .where(and(...where))
    .orderBy(asc(migrations.id))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  return {
    migrations: page.map(migrationView),
    nextCursor: rows.length > limit ? page[page.length - 1].id : null,
  };
}

/**
 * Cancels before the switch (as QEMU's migrate_cancel, which cannot undo a switch either): while
 * the rounds run, up to the simulated time of the switch.
 */
export async function cancelMigration(fleet: Fleet, id: string) {
  const row = await requireMigration(fleet, id);
  const now = await fleet.now();
  const beforeSwitch =
    row.step === "switch" && row.status === "active" && row.switchAt !== null && now < row.switchAt;
  if (row.step === "reserve" || row.step === "precopy" || beforeSwitch) {
    const moved = await fleet.db
      .update(migrations)
      .set({
        status: "cancelled",
        step: "release",
        reason: "cancelled by the caller",
        version: row.version + 1,
        updatedAt: now,
      })
      .where(and(eq(migrations.id, id), eq(migrations.version, row.version)))
      .returning();
    if (moved.length === 1) {
      const inst = await fleet.db.select().from(instances).where(eq(instances.id, row.instanceId)).get();
      const ev = migrationEvent(row, row.status, "cancelled", now, inst ? rowToRecord(inst) : null);
      await mirrorApplied(fleet.db, [ev]);
      await fleet.publish([ev]);
      await sendSteps(fleet, [{ migrationId: id, step: "release" }]);
      return migrationView(moved[0]);
    }
    return cancelMigration(fleet, id);
  }
  throw new ApiError(
    409,
    "IncorrectMigrationState",
    TERMINAL_STATUSES.includes(row.status as never)
      ? `The migration '${id}' has already ended (${row.status})`
      : `The migration '${id}' is switching to its destination and can no longer be cancelled`,
    { migrationId: id, migrationStatus: row.status },
  );
}

/** A migration as QEMU's query-migrate shapes it (in this API's camelCase), with its rounds. */
export function migrationView(row: MigrationRow) {
  const params = JSON.parse(row.params) as MigrationParams;
  const r = row.report ? (JSON.parse(row.report) as MigrationReport) : null;
  return {
    migrationId: row.id,
    instanceId: row.instanceId,
    sourceHostId: row.sourceHostId,
    destinationHostId: row.destinationHostId,
    evacuationId: row.evacuationId,
    status: row.status,
    mode: r?.mode ?? params.mode,
    policy: r?.policy ?? params.policy ?? null,
    reason: row.reason,
    createdAt: new Date(row.createdAt).toISOString(),
    updatedAt: new Date(row.updatedAt).toISOString(),
    startedAt: row.startedAt === null ? null : new Date(row.startedAt).toISOString(),
    switchAt: row.switchAt === null ? null : new Date(row.switchAt).toISOString(),
    lastPageAt: row.lastPageAt === null ? null : new Date(row.lastPageAt).toISOString(),
    converged: r ? r.converged : null,
    totalTimeMs: r ? r.totalTimeMs : null,
    setupTimeMs: r ? r.setupTimeMs : null,
    downtimeMs: r ? r.downtimeMs : null,
    expectedDowntimeMs: r ? r.expectedDowntimeMs : null,
    downtime: r ? r.downtime : null,
    ram: r
      ? {
          transferred: r.ram.transferredBytes,
          remaining: r.ram.remainingBytes,
          total: r.ram.totalBytes,
          pageSize: r.ram.pageBytes,
          dirtyPagesRate: r.ram.dirtyPagesRate,
          pagesPerSecond: r.ram.pagesPerSecond,
          mbps: r.ram.mbps,
          dirtySyncCount: r.ram.dirtySyncCount,
          postcopyRequests: r.ram.postcopyRequests,
        }
      : null,
    cpuThrottlePercentage: r ? r.cpuThrottlePct : 0,
    postcopy: r?.postcopy ?? null,
    rounds: r ? r.rounds : [],
  };
}

export type MigrationView = ReturnType<typeof migrationView>;
