// Changing the simulated clock as the admin API does: move or switch it (fleet/clock.ts),
// then have the hosts settle on the new time, so what fell due has happened on return.
import { inArray } from "drizzle-orm";
import { hosts, instances } from "../db/schema";
import type { ClockMode, ClockState } from "../sim/clock";
import { advanceClock, clockView, configureClock } from "./clock";
import type { Fleet } from "./context";
import { resumeDueMigrations } from "./migration-reconcile";
import { mirrorApplied } from "./mirror";
import { actOnDueEvents } from "./scheduled-events";

/**
 * Settles due transitions: on the hosts with an instance in a transitional state, or on
 * every host (when the clock's mode changed, so that each sets its alarms anew). A host that fails is
 * reported, not fatal: the clock has moved, and it settles on its next call.
 */
async function settleHosts(fleet: Fleet, clock: ClockState, onlyBusy: boolean) {
  const ids = onlyBusy
    ? (
        await fleet.db
          .selectDistinct({ hostId: instances.hostId })
          .from(instances)
          .where(inArray(instances.state, ["pending", "stopping", "shutting-down"]))
      )
        .map((b) => b.hostId)
        .filter((h): h is string => h !== null)
    : (await fleet.db.select({ id: hosts.id }).from(hosts)).map((h) => h.id);
  const results = await Promise.allSettled(ids.map((id) => fleet.host(id).settle(clock)));
  const answers = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const evs = answers.flatMap((a) => a.events);
  // The hosts' outboxes deliver the same events, and those an answer left out; the clock
  // change itself has happened.
  await mirrorApplied(fleet.db, evs);
  return {
    settledEvents: evs.length + answers.reduce((n, a) => n + a.eventsOmitted, 0),
    hostsFailed: results.filter((r) => r.status === "rejected").length,
  };
}

/** Moves simulated time forward, settles every transition that falls due, and acts on due scheduled events. */
export async function advanceTime(fleet: Fleet, byMs: number) {
  const clock = await advanceClock(fleet.db, fleet.env, byMs);
  const settled = await settleHosts(fleet, clock, true);
  await actOnDueEvents(fleet);
  await resumeDueMigrations(fleet);
  return { ...clockView(clock), ...settled };
}

/** Switches the clock's mode or scale; every host learns it now, so alarms follow at once. */
export async function changeClock(fleet: Fleet, change: { mode?: ClockMode; scale?: number }) {
  const clock = await configureClock(fleet.db, fleet.env, change);
  const settled = await settleHosts(fleet, clock, false);
  return { ...clockView(clock), ...settled };
}
