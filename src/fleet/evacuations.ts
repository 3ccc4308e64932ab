// Evacuating a host: it goes into maintenance (no new instances) and every running instance on it
// is live-migrated to another host of its family that has room, each a migration of its own; the
// evacuation is the progress of those migrations. Instances that cannot move (instance store not
// accepted as lost, not running) stay, and the evacuation says why.
import { and, eq, inArray } from "drizzle-orm";
import { evacuations, hosts, instances, migrations } from "../db/schema";
import type { Fleet } from "./context";
import { ApiError, hostNotFound } from "./errors";
import { newId } from "./ids";
import { TERMINAL_STATUSES } from "./migration-steps";
import { createMigration } from "./migrations";
import { mirrorApplied } from "./mirror";

export interface EvacuateInput {
  acceptInstanceStoreLoss?: boolean;
}

export const evacuationNotFound = (id: string) =>
  new ApiError(404, "InvalidEvacuationID.NotFound", `The evacuation ID '${id}' does not exist`, {});

export async function evacuateHost(fleet: Fleet, hostId: string, input: EvacuateInput) {
  const host = await fleet.db.select().from(hosts).where(eq(hosts.id, hostId)).get();
  if (!host) throw hostNotFound(hostId);
  if (host.state === "failed" || host.state === "retired")
    throw new ApiError(
      409,
      "IncorrectHostState",
      `The host '${hostId}' is ${host.state}: nothing on it can move`,
      {
        hostId,
      },
    );
  const readOnHost = () =>
    fleet.db
      .select({ id: instances.id, state: instances.state })
      .from(instances)
      .where(eq(instances.hostId, hostId));
  let onHost = await readOnHost();
  const id = newId("evac");
  const now = await fleet.now();
  // The record names every instance first, so that whatever happens later it can say of each one
  // whether it moved; it stays `starting` until each has a migration or a reason it stays.
  await fleet.db.insert(evacuations).values({
    id,
    hostId,
    skipped: "[]",
    createdAt: now,
    instanceIds: JSON.stringify(onHost.map((i) => i.id)),
    state: "starting",
  });
  try {
    const set = await fleet.host(hostId).setState("maintenance", await fleet.clock());
    await mirrorApplied(fleet.db, set.events);
  } catch (err) {
    await fleet.db.delete(evacuations).where(eq(evacuations.id, id));
    throw err;
  }
  // An instance admitted between the first read and the host's maintenance is on it too: read
  // again now that the host admits nothing more, and name it with the rest.
  const late = (await readOnHost()).filter((i) => !onHost.some((o) => o.id === i.id));
  if (late.length > 0) {
    onHost = [...onHost, ...late];
    await fleet.db
      .update(evacuations)
      .set({ instanceIds: JSON.stringify(onHost.map((i) => i.id)) })
      .where(eq(evacuations.id, id));
  }
  const skipped: { instanceId: string; reason: string }[] = [];
  for (const i of onHost) {
    if (i.state !== "running") {
      skipped.push({ instanceId: i.id, reason: `it is ${i.state}, and only a running instance migrates` });
      continue;
    }
    try {
      await createMigration(
        fleet,
        i.id,
        { mode: "precopy", acceptInstanceStoreLoss: input.acceptInstanceStoreLoss ?? false },
        id,
      );
    } catch (err) {
      // Whatever stops one migration from starting, the others still start, and this one says why.
      const reason =
        err instanceof ApiError
          ? `${err.code}: ${err.message}`
          : `its migration could not start: ${err instanceof Error ? err.message : String(err)}`;
      skipped.push({ instanceId: i.id, reason: reason.slice(0, 512) });
    }
  }
  await fleet.db
    .update(evacuations)
    .set({ skipped: JSON.stringify(skipped), state: "started" })
    .where(eq(evacuations.id, id));
  return describeEvacuation(fleet, id);
}

export type EvacuationState = "starting" | "in-progress" | "completed" | "incomplete";

/**
 * An evacuation's progress, and of each instance that was on the host whether it moved (and where)
 * or why not: it could not start, its migration failed or was cancelled, or the evacuation stopped
 * before it reached it. `completed` when every instance moved, `incomplete` when all ended and some
 * did not.
 */
export async function describeEvacuation(fleet: Fleet, id: string) {
  const e = await fleet.db.select().from(evacuations).where(eq(evacuations.id, id)).get();
  if (!e) throw evacuationNotFound(id);
  const ms = await fleet.db
    .select({
      migrationId: migrations.id,
      instanceId: migrations.instanceId,
      status: migrations.status,
      destinationHostId: migrations.destinationHostId,
      reason: migrations.reason,
    })
    .from(migrations)
    .where(and(eq(migrations.evacuationId, id), inArray(migrations.sourceHostId, [e.hostId])));
  const count = (s: string) => ms.filter((m) => m.status === s).length;
  const ended = ms.filter((m) => TERMINAL_STATUSES.includes(m.status as never)).length;
  const skipped = JSON.parse(e.skipped) as { instanceId: string; reason: string }[];
  const moved = ms
    .filter((m) => m.status === "completed")
    .map((m) => ({
      instanceId: m.instanceId,
      migrationId: m.migrationId,
      destinationHostId: m.destinationHostId!,
    }));
  const notMoved: { instanceId: string; migrationId: string | null; reason: string }[] = [
    ...skipped.map((s) => ({ instanceId: s.instanceId, migrationId: null, reason: s.reason })),
    ...ms
      .filter((m) => m.status === "failed" || m.status === "cancelled")
      .map((m) => ({
        instanceId: m.instanceId,
        migrationId: m.migrationId,
        reason: `its migration ${m.status}: ${m.reason ?? "no reason recorded"}`.slice(0, 512),
      })),
  ];
  const accounted = new Set([...ms.map((m) => m.instanceId), ...skipped.map((s) => s.instanceId)]);
  // Only an evacuation still starting (or whose request stopped part way) leaves an instance with neither.
  const unreached = (JSON.parse(e.instanceIds) as string[]).filter((i) => !accounted.has(i));
  for (const instanceId of unreached)
    notMoved.push({
      instanceId,
      migrationId: null,
      reason:
        "the evacuation has not started its migration: it stopped (or is still starting) before it got there",
    });
  const starting = e.state === "starting";
  const done = !starting && ended === ms.length;
  const state: EvacuationState = starting
    ? "starting"
    : !done
      ? "in-progress"
      : notMoved.length === 0
        ? "completed"
        : "incomplete";
  return {
    evacuationId: e.id,
    hostId: e.hostId,
    createdAt: new Date(e.createdAt).toISOString(),
    state,
    total: ms.length,
    completed: count("completed"),
    failed: count("failed"),
    cancelled: count("cancelled"),
    inProgress: ms.length - ended,
    done,
    migrations: ms,
    skipped,
    moved,
    notMoved,
  };
}

export type EvacuationView = Awaited<ReturnType<typeof describeEvacuation>>;
