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
  const set = await fleet.host(hostId).setState("maintenance", await fleet.clock());
  await mirrorApplied(fleet.db, set.events);
  const id = newId("evac");
  const now = await fleet.now();
  await fleet.db.insert(evacuations).values({ id, hostId, skipped: "[]", createdAt: now });
  const onHost = await fleet.db
    .select({ id: instances.id, state: instances.state })
    .from(instances)
    .where(eq(instances.hostId, hostId));
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
      if (!(err instanceof ApiError)) throw err;
      skipped.push({ instanceId: i.id, reason: `${err.code}: ${err.message}`.slice(0, 512) });
    }
  }
  await fleet.db
    .update(evacuations)
    .set({ skipped: JSON.stringify(skipped) })
    .where(eq(evacuations.id, id));
  return describeEvacuation(fleet, id);
}

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
  return {
    evacuationId: e.id,
    hostId: e.hostId,
    createdAt: new Date(e.createdAt).toISOString(),
    total: ms.length,
    completed: count("completed"),
    failed: count("failed"),
    cancelled: count("cancelled"),
    inProgress: ms.length - ended,
    done: ended === ms.length,
    migrations: ms,
    skipped: JSON.parse(e.skipped) as { instanceId: string; reason: string }[],
  };
}

export type EvacuationView = Awaited<ReturnType<typeof describeEvacuation>>;
