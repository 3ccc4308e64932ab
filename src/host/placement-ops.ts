// The calls a placement makes to a host object, as data: concurrent callers' calls to one
// host run together as one host call (call-groups.ts).
import type { InstanceRecord } from "../sim/records";
import type { Tenancy } from "./tenancy";

export type PlacementOp =
  /** Admits what fits of `instances`, committed at once when at least `commitIfAtLeast` fit. */
  | { op: "admit"; instances: InstanceRecord[]; commitIfAtLeast: number; tenancy: Tenancy }
  /** Commits admission holds. */
  | { op: "commit"; ids: string[] }
  /** Gives admission holds back. */
  | { op: "cancel"; ids: string[] };

/** What an op answers: the admitted ids of an admit, null for a commit or a cancel. */
export type PlacementOpResult = string[] | null;

/** The instances an op names: its answer carries their events first. */
export function opSubjects(op: PlacementOp): string[] {
  return op.op === "admit" ? op.instances.map((i) => i.instanceId) : op.ids;
}

/**
 * How many instances' events an op's answer carries: an admit's records, and a commit's or a
 * cancel's ids, since committing or giving back a hold makes each instance's event with its
 * whole record.
 */
export function opRecords(op: PlacementOp): number {
  return op.op === "admit" ? op.instances.length : op.ids.length;
}

/** Calls in one group at most: the host runs them one after another in one call. */
export const GROUP_MAX_CALLS = 64;

/**
 * Instance records in one group at most: those of the largest launch (fleet/limits.ts
 * MAX_LAUNCH_COUNT). A group's own events are then no more than the largest launch's call
 * makes, which fit one answer's budget whole (answer.ts); a call that carries more goes alone.
 */
export const GROUP_MAX_RECORDS = 100;
