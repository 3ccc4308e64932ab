// The lifecycle actions on one instance: stop, start, reboot, terminate. The host an
// instance occupies acts on it; a stopped instance belongs to no host, and D1 (guarded
// by a claim) is its record.
import { and, eq, isNull, lt, or } from "drizzle-orm";
import { instances } from "../db/schema";
import { findInstanceType } from "../sim/catalog";
import { offHostChange } from "../sim/host";
import { decide, type InstanceAction, type InstanceState, occupiesHost, STATE_CODES } from "../sim/lifecycle";
import type { PlacementStrategy } from "../sim/placement";
import type { InstanceRecord } from "../sim/records";
import type { Fleet } from "./context";
import { dedicatedPool } from "./dedicated-hosts";
import { ApiError, incorrectState, isRefusal } from "./errors";
import { requireInstanceRow } from "./instance-queries";
import { type InstanceRow, rowToRecord } from "./instance-rows";
import { mirror, mirrorAnswer } from "./mirror";
import { place } from "./placement";
import { groupOfRecord } from "./placement-groups";

/** Longer than the repair path's period, so a start whose mirror write was lost cannot run twice. */
const CLAIM_MS = 15 * 60_000;

export interface StateChange {
  instanceId: string;
  previousState: { code: number; name: InstanceState };
  currentState: { code: number; name: InstanceState };
}

const stateOf = (s: InstanceState) => ({ code: STATE_CODES[s], name: s });

export async function act(fleet: Fleet, id: string, action: InstanceAction): Promise<StateChange> {
  // Two rounds at most: a host may tell us the instance left it, which refreshes D1.
  for (let round = 0; round < 2; round++) {
    const row = await requireInstanceRow(fleet, id);
    const previous = row.state as InstanceState;
    if (row.hostId && occupiesHost(previous)) {
      const r = await mirrorAnswer(
        fleet.db,
        await fleet.host(row.hostId).act(id, action, await fleet.clock()),
      );
      if (r.status === "ok")
        return { instanceId: id, previousState: stateOf(previous), currentState: stateOf(r.instance.state) };
      if (r.status === "illegal") throw incorrectState(id, r.instance.state, action);
      continue;
    }
    return actOffHost(fleet, rowToRecord(row), action, row);
  }
  throw new ApiError(409, "IncorrectInstanceState", `The instance '${id}' is changing hosts; retry`, {
    instanceId: id,
  });
}

/** Stopped (or terminated) instances hold no host: D1 is their record, guarded by a claim. */
async function actOffHost(
  fleet: Fleet,
  rec: InstanceRecord,
  action: InstanceAction,
  row: Pick<InstanceRow, "tenancy" | "hostAffinity">,
): Promise<StateChange> {
  const outcome = decide(rec.state, action);
  const previousState = stateOf(rec.state);
  if (outcome.kind === "illegal") throw incorrectState(rec.instanceId, rec.state, action);
  if (outcome.kind !== "transition")
    return { instanceId: rec.instanceId, previousState, currentState: previousState };

  const claim = crypto.randomUUID();
  const wallNow = Date.now();
  const won = await fleet.db
    .update(instances)
    .set({ claim, claimExpires: wallNow + CLAIM_MS })
    .where(
      and(
        eq(instances.id, rec.instanceId),
        eq(instances.version, rec.version),
        or(isNull(instances.claim), lt(instances.claimExpires, wallNow)),
      ),
    )
    .returning({ id: instances.id });
  if (won.length === 0) throw incorrectState(rec.instanceId, `${rec.state}, changing`, action);

  const release = () =>
    fleet.db
      .update(instances)
      .set({ claim: null, claimExpires: null })
      .where(and(eq(instances.id, rec.instanceId), eq(instances.claim, claim)));

  if (outcome.to === "terminated") {
    const { event } = offHostChange(rec, { state: "terminated" }, await fleet.now(), crypto.randomUUID());
    try {
      await mirror(fleet.db, [event]);
    } catch (err) {
      await release();
      throw err;
    }
    await fleet.publish([event]);
    return { instanceId: rec.instanceId, previousState, currentState: stateOf("terminated") };
  }

  // Start: a stopped instance may land on another host, as on EC2; one launched for a dedicated host
  // goes back to its account's dedicated hosts (the one it named, if it named one), never to a shared one.
  const type = findInstanceType(rec.instanceType)!;
  try {
    const pool =
      row.tenancy === "host"
        ? await dedicatedPool(
            fleet,
            type,
            rec.zone,
            row.hostAffinity ?? undefined,
            rec.accountId ?? undefined,
          )
        : undefined;
    await place(
      fleet,
      type,
      [{ ...rec, state: "stopped" }],
      1,
      rec.zone,
      rec.placementStrategy as PlacementStrategy,
      await groupOfRecord(fleet, rec),
      undefined,
      pool,
    );
  } catch (err) {
    // After a refusal nothing moved and the claim goes back; when a host went silent the
    // start may have landed, so the claim stays until it expires.
    if (isRefusal(err)) await release();
    if (row.tenancy === "host" && err instanceof ApiError && err.code === "InsufficientInstanceCapacity") {
      throw new ApiError(
        409,
        "InsufficientHostCapacity",
        `The instance '${rec.instanceId}' runs on dedicated hosts, and ${row.hostAffinity ? `its dedicated host '${row.hostAffinity}' has` : `none of its account's dedicated hosts in ${rec.zone} has`} room for a ${type.name}; it stays stopped`,
        { instanceId: rec.instanceId, field: "instanceId" },
      );
    }
    throw err;
  }
  return { instanceId: rec.instanceId, previousState, currentState: stateOf("pending") };
}
