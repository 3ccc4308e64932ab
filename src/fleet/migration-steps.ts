// The steps of a live migration, each a message on the hyperfleet-migrations queue: reserve the
// destination, run the rounds on the source, switch, release. A step acts only if the migration's
// row is at that step, and every host call it makes is idempotent, so a message delivered twice,
// late or out of order changes nothing. A step whose row moved on while it ran (a cancel) undoes
// what it did on the hosts; what it undoes is itself idempotent.
import { and, eq, exists, inArray, ne } from "drizzle-orm";
import { dedicatedHosts, hosts, instances, migrations } from "../db/schema";
import type { MigrationParams, MigrationReport } from "../sim/migration";
import { rankHosts } from "../sim/placement";
import { planGroupOffers, shortfall } from "../sim/placement-groups";
import { type FleetEvent, type InstanceRecord, withoutTags } from "../sim/records";
import { notQuarantined } from "./candidates";
import type { Fleet } from "./context";
import { notDedicated } from "./dedicated-hosts";
import { rowToRecord } from "./instance-rows";
import { mirrorApplied } from "./mirror";
import { groupOfRecord } from "./placement-groups";
import { afterMigration } from "./scheduled-events";

export const MIGRATION_STEPS = ["reserve", "precopy", "switch", "release"] as const;
export type MigrationStep = (typeof MIGRATION_STEPS)[number] | "done";
export type MigrationStatus =
  | "setup"
  | "active"
  | "postcopy-active"
  | "device"
  | "completed"
  | "failed"
  | "cancelled";
export const TERMINAL_STATUSES: readonly MigrationStatus[] = ["completed", "failed", "cancelled"];

export interface StepMessage {
  migrationId: string;
  step: (typeof MIGRATION_STEPS)[number];
  /** Simulated ms from which the step acts (the switch, post-copy's last page); absent: at once. */
  at?: number;
}

export type MigrationRow = typeof migrations.$inferSelect;

async function rowOf(fleet: Fleet, id: string): Promise<MigrationRow | undefined> {
  return fleet.db.select().from(migrations).where(eq(migrations.id, id)).get();
}

async function instanceRecord(fleet: Fleet, id: string): Promise<InstanceRecord | null> {
  const row = await fleet.db.select().from(instances).where(eq(instances.id, id)).get();
  return row ? rowToRecord(row) : null;
}

/** A transition of the migration as a fleet event, in its instance's account (the record it carries). */
export function migrationEvent(
  row: MigrationRow,
  previous: string | null,
  status: string,
  time: number,
  instance: InstanceRecord | null,
): FleetEvent {
  return {
    id: crypto.randomUUID(),
    type: "migration.state-changed",
    time,
    hostId: row.sourceHostId,
    instanceId: row.instanceId,
    previousState: previous,
    state: status,
    instance: instance ? withoutTags(instance) : null,
    host: null,
    hostRecord: null,
    subject: {
      kind: "migration",
      id: row.id,
      accountId: row.accountId,
      detail: { hostId: row.sourceHostId },
    },
  };
}

/**
 * Moves the row from `from` to what `set` says, if it is still at `from`; the transition's event
 * goes to D1 in the same batch, and to the events queue. False when the row had moved on.
 */
async function advance(
  fleet: Fleet,
  row: MigrationRow,
  from: MigrationStep,
  set: Partial<
    Pick<
      MigrationRow,
      "status" | "step" | "report" | "reason" | "destinationHostId" | "startedAt" | "switchAt" | "lastPageAt"
    >
  >,
): Promise<boolean> {
  const now = await fleet.now();
  const moved = await fleet.db
    .update(migrations)
    .set({ ...set, version: row.version + 1, updatedAt: now })
    .where(and(eq(migrations.id, row.id), eq(migrations.step, from), eq(migrations.version, row.version)))
    .returning({ id: migrations.id });
  if (moved.length === 0) return false;
  if (set.status && set.status !== row.status) {
    const ev = migrationEvent(row, row.status, set.status, now, await instanceRecord(fleet, row.instanceId));
    await mirrorApplied(fleet.db, [ev]);
    await fleet.publish([ev]);
  }
  return true;
}

const fail = (
  fleet: Fleet,
  row: MigrationRow,
  from: MigrationStep,
  reason: string,
  report?: MigrationReport,
) =>
  advance(fleet, row, from, {
    status: "failed",
    step: "release",
    reason,
    ...(report ? { report: JSON.stringify(report) } : {}),
  });

/** Undoes a step's host changes once its row is bound for release: the release step's own calls. */
async function undo(fleet: Fleet, row: MigrationRow): Promise<void> {
  const clock = await fleet.clock();
  if (row.destinationHostId) {
    const r = await fleet.host(row.destinationHostId).releaseIncoming(row.instanceId, row.id, clock);
    await mirrorApplied(fleet.db, r.events);
  }
  const r = await fleet.host(row.sourceHostId).unmarkOutgoing(row.instanceId, row.id, clock);
  await mirrorApplied(fleet.db, r.events);
}

/** After a host change whose row update lost: if the row is now bound for release, undo the change. */
async function settleLost(fleet: Fleet, id: string): Promise<StepMessage[]> {
  const now = await rowOf(fleet, id);
  if (now && (now.step === "release" || now.step === "done") && now.status !== "completed")
    await undo(fleet, now);
  return [];
}

/**
 * The best host of the instance's family for it, the source aside: placement's binpack ranking over
 * the hosts placement would offer it. An instance on an account's dedicated host moves only among that
 * account's dedicated hosts; any other only among shared ones (never a dedicated or quarantined host).
 * A placement group member's choice keeps the group's rule against the other members. Either a host,
 * or why there is none.
 */
async function chooseDestination(
  fleet: Fleet,
  row: MigrationRow,
  rec: InstanceRecord,
  avoid: readonly string[],
): Promise<{ hostId: string } | { reason: string }> {
  const owner = await dedicatedOwner(fleet, row.sourceHostId);
  const tenancy =
    owner === null
      ? notDedicated(fleet)
      : exists(
          fleet.db
            .select({ one: dedicatedHosts.hostId })
            .from(dedicatedHosts)
            .where(and(eq(dedicatedHosts.hostId, hosts.id), eq(dedicatedHosts.accountId, owner))),
        );
  const all = await fleet.db
    .select({
      id: hosts.id,
      zone: hosts.zone,
      rack: hosts.rack,
      family: hosts.family,
      state: hosts.state,
      freeVcpus: hosts.freeVcpus,
      freeMemoryMiB: hosts.freeMemoryMiB,
      freeNvmeGB: hosts.freeNvmeGB,
    })
    .from(hosts)
    .where(
      and(
        eq(hosts.family, rec.family),
        eq(hosts.state, "available"),
        ne(hosts.id, row.sourceHostId),
        notQuarantined(fleet),
        tenancy,
      ),
    );
  const racks = new Map(all.map((h) => [h.id, h.rack]));
  const req = {
    family: rec.family,
    zone: rec.zone,
    vcpus: rec.vcpus,
    memoryMiB: rec.memoryMiB,
    nvmeGB: rec.nvmeGB,
  };
  const ranked = rankHosts(
    all.filter((h) => !avoid.includes(h.id)),
    req,
    "binpack",
  ).map((h) => ({ ...h, rack: racks.get(h.id)! }));
  const where = owner === null ? "" : " dedicated";
  const none = `InsufficientInstanceCapacity: no other available${where} ${rec.family} host can take ${rec.instanceType}`;
  const group = await groupOfRecord(fleet, rec, true);
  if (!group) return ranked[0] ? { hostId: ranked[0].id } : { reason: none };
  if (ranked.length === 0) return { reason: none };
  const [offer] = planGroupOffers(
    group.spec,
    group.members,
    ranked,
    [{ instanceId: rec.instanceId, partition: rec.placementGroup?.partitionNumber ?? null }],
    req,
  );
  if (offer) return { hostId: offer.hostId };
  return {
    reason: `InsufficientInstanceCapacity: no other available${where} ${rec.family} host can take ${rec.instanceType} in the placement group '${group.spec.name}': ${shortfall(group.spec)}`,
  };
}

/** The account whose dedicated host this is, or null for a shared host. */
async function dedicatedOwner(fleet: Fleet, hostId: string): Promise<string | null> {
  const d = await fleet.db
    .select({ accountId: dedicatedHosts.accountId })
    .from(dedicatedHosts)
    .where(eq(dedicatedHosts.hostId, hostId))
    .get();
  return d?.accountId ?? null;
}

/** How many destinations placement may choose in turn when one turns out to be full. */
const DESTINATION_TRIES = 3;

/** A simulated time as the reasons say it. */
const at = (ms: number) => new Date(ms).toISOString();

/** When a host last failed, if that was after the migration began (an earlier failure is not this one's). */
async function failedSince(fleet: Fleet, hostId: string, since: number): Promise<number | null> {
  const f = (await fleet.host(hostId).failure(await fleet.clock())).result;
  return f.failedAt !== null && f.failedAt >= since ? f.failedAt : null;
}

export async function runStep(
  fleet: Fleet,
  msg: StepMessage,
  tries = DESTINATION_TRIES,
  avoid: readonly string[] = [],
): Promise<StepMessage[]> {
  const row = await rowOf(fleet, msg.migrationId);
  // Unknown, finished, or at another step: a duplicate or a message from the past.
  if (!row || row.step !== msg.step) return [];
  const clock = await fleet.clock();
  const now = await fleet.now();
  const params = JSON.parse(row.params) as MigrationParams;
  const next = (step: StepMessage["step"], due?: number | null): StepMessage[] => [
    { migrationId: row.id, step, ...(due != null ? { at: due } : {}) },
  ];

  if (msg.step === "reserve") {
    const rec = await instanceRecord(fleet, row.instanceId);
    if (!rec) return (await fail(fleet, row, "reserve", "the instance is gone")) ? next("release") : [];
    let destination = row.destinationHostId;
    if (!destination) {
      const chosen = await chooseDestination(fleet, row, rec, avoid);
      if ("reason" in chosen)
        return (await fail(fleet, row, "reserve", chosen.reason)) ? next("release") : [];
      destination = chosen.hostId;
      // The choice is recorded before anything is reserved, so a redelivery reserves the same host.
      if (!(await advance(fleet, row, "reserve", { destinationHostId: destination }))) return [];
      return runStep(fleet, msg, tries, avoid);
    }
    const fromDedicated = (await dedicatedOwner(fleet, row.sourceHostId)) !== null;
    const r = await fleet
      .host(destination)
      .reserveIncoming({ ...rec, state: "running" }, row.id, clock, fromDedicated ? "host" : "default");
    await mirrorApplied(fleet.db, r.events);
    if (r.result === "reserved" || r.result === "arrived") {
      if (await advance(fleet, row, "reserve", { status: "active", step: "precopy" })) return next("precopy");
      return settleLost(fleet, row.id);
    }
    // A host placement chose may have filled since (an evacuation places many at once): choose again.
    if (!row.requestedDestination && tries > 1) {
      if (!(await advance(fleet, row, "reserve", { destinationHostId: null }))) return [];
      return runStep(fleet, msg, tries - 1, [...avoid, destination]);
    }
    const reason =
      r.result === "no-capacity"
        ? `InsufficientInstanceCapacity: the destination ${destination} cannot take ${rec.instanceType}`
        : `the destination ${destination} is not available`;
    return (await fail(fleet, row, "reserve", reason)) ? next("release") : [];
  }

  if (msg.step === "precopy") {
    const source = fleet.host(row.sourceHostId);
    const mark = await source.markOutgoing(row.instanceId, row.id, clock);
    await mirrorApplied(fleet.db, mark.events);
    if (mark.result.status !== "marked") {
      const reason =
        mark.result.status === "busy"
          ? "the instance is being migrated by another migration"
          : "the instance is not running on its source host";
      return (await fail(fleet, row, "precopy", reason)) ? next("release") : [];
    }
    const plan = await source.planMigration(row.instanceId, row.id, params, clock);
    const report = plan.result;
    if (!report)
      return (await fail(fleet, row, "precopy", "the instance left its source host")) ? next("release") : [];
    if (report.outcome !== "completed") {
      if (await fail(fleet, row, "precopy", report.reason, report)) return next("release");
      return settleLost(fleet, row.id);
    }
    // The rounds run in simulated time from now: the guest resumes on the destination at the switch,
    // and (post-copy) has all its memory once the last page arrives. The steps that follow act at
    // those times, and decide by them what a host failure did.
    const switchAt = now + Math.ceil(report.switchedAtMs ?? report.totalTimeMs);
    const lastPageAt = switchAt + Math.ceil(report.postcopy?.durationMs ?? 0);
    if (
      await advance(fleet, row, "precopy", {
        step: "switch",
        report: JSON.stringify(report),
        reason: report.reason,
        startedAt: now,
        switchAt,
        lastPageAt,
      })
    )
      return next("switch", switchAt);
    return settleLost(fleet, row.id);
  }

  if (msg.step === "switch") {
    const switchAt = row.switchAt ?? now;
    if (now < switchAt) return next("switch", switchAt);
    const destinationId = row.destinationHostId!;
    const source = fleet.host(row.sourceHostId);
    const destination = fleet.host(destinationId);
    // Which came first in simulated time, a host failure or the switch, decides; not which step ran first.
    const sourceFailed = await failedSince(fleet, row.sourceHostId, row.createdAt);
    const destinationFailed = await failedSince(fleet, destinationId, row.createdAt);
    if (sourceFailed !== null && sourceFailed < switchAt && (destinationFailed ?? Infinity) >= sourceFailed) {
      const reason = `the source host failed at ${at(sourceFailed)}, before the switch at ${at(switchAt)}: the guest went down with it`;
      return (await fail(fleet, row, "switch", reason)) ? next("release") : [];
    }
    if (destinationFailed !== null && destinationFailed < switchAt) {
      const reason = `the destination ${destinationId} failed at ${at(destinationFailed)}, before the switch at ${at(switchAt)}: the guest stays on its source`;
      return (await fail(fleet, row, "switch", reason)) ? next("release") : [];
    }
    const report = row.report ? (JSON.parse(row.report) as MigrationReport) : null;
    const postcopy = report?.mode === "postcopy";
    // The guest pauses (pre-copy's stop-and-copy) or resumes on the destination (post-copy). A
    // cancel that won the row first leaves the hosts as they are.
    const switching: MigrationStatus = postcopy ? "postcopy-active" : "device";
    let current = row;
    if (row.status !== switching) {
      if (!(await advance(fleet, row, "switch", { status: switching }))) return settleLost(fleet, row.id);
      current = (await rowOf(fleet, row.id))!;
    }
    const mark = await source.markOutgoing(row.instanceId, row.id, clock);
    await mirrorApplied(fleet.db, mark.events);
    let arrived = false;
    if (mark.result.status === "marked" && mark.result.instance) {
      if (destinationFailed !== null) {
        // The destination failed after the switch but before this step ran: in simulated time the
        // guest had moved there and went down with it, so it leaves its source stopped. If it had all
        // its memory by then (pre-copy at the switch, post-copy at the last page), the migration had
        // completed and the host failure came after it; otherwise the migration failed with the host.
        const lastPageAt = row.lastPageAt ?? switchAt;
        const completed = destinationFailed >= lastPageAt;
        const reason = completed
          ? `Server.InternalError: the destination host ${destinationId} failed at ${at(destinationFailed)}, after the migration completed at ${at(lastPageAt)}`
          : `Server.InternalError: the destination host ${destinationId} failed at ${at(destinationFailed)}, after the guest moved there at ${at(switchAt)}`;
        const lost = await source.loseOutgoing(row.instanceId, row.id, reason, clock);
        await mirrorApplied(fleet.db, lost.events);
        if (!completed) return (await fail(fleet, current, "switch", reason)) ? next("release") : [];
        if (await advance(fleet, current, "switch", { status: "completed", step: "release" }))
          return next("release");
        return [];
      }
      let a = await destination.arriveIncoming(mark.result.instance, row.id, clock);
      await mirrorApplied(fleet.db, a.events);
      if (a.result === "not-reserved") {
        // The hold lapses in wall time, the rounds run in simulated time: on a slow clock the hold
        // can lapse before the switch. The destination admits the guest again if it still has room.
        const again = await destination.reserveIncoming(
          { ...mark.result.instance, state: "running" },
          row.id,
          clock,
        );
        await mirrorApplied(fleet.db, again.events);
        if (again.result === "reserved") {
          a = await destination.arriveIncoming(mark.result.instance, row.id, clock);
          await mirrorApplied(fleet.db, a.events);
        }
      }
      arrived = a.result === "arrived";
    }
    if (!arrived) {
      // Already there: this switch happened in a step that ran beside this one, or before it (a
      // redelivery).
      const here = await destination.records([row.instanceId]);
      arrived = (here?.onHost ?? []).some((i) => i.hostId === destinationId);
      // Or the source failed after the switch time, before any switch step ran, and stopped a guest
      // that had in fact left.
      if (!arrived && mark.result.status !== "marked" && sourceFailed !== null) {
        const inst = await fleet.db.select().from(instances).where(eq(instances.id, row.instanceId)).get();
        if (inst && inst.state === "stopped") {
          const rec = rowToRecord(inst);
          const a = await destination.arriveIncoming(
            { ...rec, state: "running", stateCode: 16, hostId: row.sourceHostId },
            row.id,
            clock,
          );
          await mirrorApplied(fleet.db, a.events);
          arrived = a.result === "arrived";
        }
      }
    }
    if (!arrived) {
      const reason =
        mark.result.status === "marked"
          ? `the destination ${destinationId} no longer held the reservation`
          : "the instance stopped on its source host before the switch";
      return (await fail(fleet, current, "switch", reason)) ? next("release") : [];
    }
    const d = await source.departOutgoing(row.instanceId, row.id, destinationId, clock);
    await mirrorApplied(fleet.db, d.events);
    const status = postcopy ? "postcopy-active" : "completed";
    if (await advance(fleet, current, "switch", { status, step: "release" }))
      return next("release", postcopy ? (row.lastPageAt ?? switchAt) : null);
    return [];
  }

  // release: give back whatever is still held, then the row is done.
  if (row.status === "postcopy-active") {
    // Post-copy ends when the last page arrives; until then the guest's memory is partly on its source.
    const switchAt = row.switchAt ?? now;
    const lastPageAt = row.lastPageAt ?? now;
    if (now < lastPageAt) return next("release", lastPageAt);
    await undo(fleet, row);
    const sourceFailed = await failedSince(fleet, row.sourceHostId, switchAt);
    const destinationFailed = await failedSince(fleet, row.destinationHostId!, switchAt);
    // Whichever host failed first (before the last page) decided what became of the guest.
    if (
      sourceFailed !== null &&
      sourceFailed < lastPageAt &&
      (destinationFailed === null || sourceFailed < destinationFailed)
    ) {
      // The source failed before the last page arrived: the guest has lost memory it can never get back.
      const reason = `the source host failed at ${at(sourceFailed)}, during post-copy, before the last page arrived at ${at(lastPageAt)}: the instance is lost`;
      const t = await fleet.host(row.destinationHostId!).act(row.instanceId, "terminate", clock);
      await mirrorApplied(fleet.db, t.events);
      if (await advance(fleet, row, "release", { status: "failed", step: "done", reason }))
        await afterMigration(fleet, row.id, "failed");
      return [];
    }
    if (destinationFailed !== null && destinationFailed < lastPageAt) {
      const reason = `the destination ${row.destinationHostId} failed at ${at(destinationFailed)}, during post-copy: the guest went down with it`;
      if (await advance(fleet, row, "release", { status: "failed", step: "done", reason }))
        await afterMigration(fleet, row.id, "failed");
      return [];
    }
    if (await advance(fleet, row, "release", { status: "completed", step: "done" }))
      await afterMigration(fleet, row.id, "completed");
    return [];
  }
  await undo(fleet, row);
  if (await advance(fleet, row, "release", { step: "done" })) await afterMigration(fleet, row.id, row.status);
  return [];
}

/** Open migrations of these instances (at most one each). */
export async function openMigrations(fleet: Fleet, instanceIds: string[]): Promise<MigrationRow[]> {
  if (instanceIds.length === 0) return [];
  return fleet.db
    .select()
    .from(migrations)
    .where(and(inArray(migrations.instanceId, instanceIds), ne(migrations.step, "done")));
}
