// Metric alarms as CloudWatch's PutMetricAlarm defines them: a statistic of a metric over a
// period, compared with a threshold; M of the last N periods breaching make ALARM; missing
// data treated as asked. An account's alarms watch its own instances' metrics.
import { and, asc, eq, gt } from "drizzle-orm";
import { alarms } from "../db/schema";
import { type Dimensions, METRICS, type MetricName } from "../host/metrics-catalog";
import type { Fleet } from "./context";
import { ApiError, invalidParameter } from "./errors";
import { newId } from "./ids";
import { ALARM_SHORT_WINDOW_MAX_SECONDS, ALARM_WINDOW_MAX_SECONDS, MAX_ALARMS_PER_ACCOUNT } from "./limits";
import type { Statistic } from "./metrics";
import { canonicalDims } from "./metrics-store";
import { creatorAccount, ownedBy } from "./ownership";
import { pageOf } from "./paging";

export const COMPARISONS = [
  "GreaterThanThreshold",
  "GreaterThanOrEqualToThreshold",
  "LessThanThreshold",
  "LessThanOrEqualToThreshold",
] as const;
export type Comparison = (typeof COMPARISONS)[number];
export const MISSING_DATA = ["missing", "notBreaching", "breaching", "ignore"] as const;
export type MissingData = (typeof MISSING_DATA)[number];

export interface AlarmInput {
  alarmName: string;
  metricName: MetricName;
  dimensions: Dimensions;
  statistic: Statistic;
  period: number;
  evaluationPeriods: number;
  datapointsToAlarm?: number;
  threshold: number;
  comparisonOperator: Comparison;
  treatMissingData?: MissingData;
}

type Row = typeof alarms.$inferSelect;

export interface AlarmView extends Required<AlarmInput> {
  alarmId: string;
  stateValue: "OK" | "ALARM" | "INSUFFICIENT_DATA";
  stateReason: string;
  /** Simulated time of the last change of state. */
  stateUpdatedTimestamp: string;
}

export const alarmNotFound = (id: string) =>
  new ApiError(404, "InvalidAlarmID.NotFound", `The alarm ID '${id}' does not exist`, { alarmId: id });

export function alarmView(r: Row): AlarmView {
  return {
    alarmId: r.id,
    alarmName: r.name,
    metricName: r.metric as MetricName,
    dimensions: JSON.parse(r.dims),
    statistic: r.statistic as Statistic,
    period: r.period,
    evaluationPeriods: r.evaluationPeriods,
    datapointsToAlarm: r.datapointsToAlarm,
    threshold: r.threshold,
    comparisonOperator: r.comparison as Comparison,
    treatMissingData: r.treatMissing as MissingData,
    stateValue: r.state as AlarmView["stateValue"],
    stateReason: r.stateReason,
    stateUpdatedTimestamp: new Date(r.stateTime).toISOString(),
  };
}

export async function createAlarm(fleet: Fleet, a: AlarmInput): Promise<AlarmView> {
  const accountId = creatorAccount(fleet.caller);
  if (METRICS[a.metricName].of !== "instance") {
    throw invalidParameter("metricName", `${a.metricName} is a host's metric, which only the admin reads`);
  }
  if (a.period % 60 !== 0) throw invalidParameter("period", "must be a multiple of 60 seconds");
  const short = a.period < 3600;
  const windowMax = short ? ALARM_SHORT_WINDOW_MAX_SECONDS : ALARM_WINDOW_MAX_SECONDS;
  if (a.period * a.evaluationPeriods > windowMax) {
    throw invalidParameter(
      "evaluationPeriods",
      `period × evaluationPeriods may not pass ${windowMax} seconds${short ? " for periods under an hour" : ""}`,
    );
  }
  const m = a.datapointsToAlarm ?? a.evaluationPeriods;
  if (m > a.evaluationPeriods)
    throw invalidParameter("datapointsToAlarm", "may not exceed evaluationPeriods");
  const now = await fleet.now();
  const row: Row = {
    id: newId("alarm"),
    accountId,
    name: a.alarmName,
    metric: a.metricName,
    dims: canonicalDims(a.dimensions),
    statistic: a.statistic,
    period: a.period,
    evaluationPeriods: a.evaluationPeriods,
    datapointsToAlarm: m,
    threshold: a.threshold,
    comparison: a.comparisonOperator,
    treatMissing: a.treatMissingData ?? "missing",
    state: "INSUFFICIENT_DATA",
    stateReason: "Unchecked: the alarm was just created",
    stateTime: now,
    evaluatedTo: null,
    createdAt: Date.now(),
    version: 1,
  };
  const d1 = fleet.db.$client;
  const res = await d1
    .prepare(
      `INSERT INTO alarms (id, account_id, name, metric, dims, statistic, period, evaluation_periods, datapoints_to_alarm, threshold, comparison, treat_missing, state, state_reason, state_time, evaluated_to, created_at, version)
       SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, 1
       WHERE (SELECT count(*) FROM alarms WHERE account_id = ?) < ? AND NOT EXISTS (SELECT 1 FROM alarms WHERE account_id = ? AND name = ?)`,
    )
    .bind(
      row.id,
      accountId,
      row.name,
      row.metric,
      row.dims,
      row.statistic,
      row.period,
      row.evaluationPeriods,
      row.datapointsToAlarm,
      row.threshold,
      row.comparison,
      row.treatMissing,
      row.state,
      row.stateReason,
      row.stateTime,
      row.createdAt,
      accountId,
      MAX_ALARMS_PER_ACCOUNT,
      accountId,
      row.name,
    )
    .run()
    .catch((err: unknown) => {
      // Two creates of one name at once: the unique index refuses the second.
      if (String(err).includes("UNIQUE")) return { meta: { changes: 0 } };
      throw err;
    });
  if (res.meta.changes !== 1) {
    const [same] = await fleet.db
      .select({ id: alarms.id })
      .from(alarms)
      .where(and(eq(alarms.accountId, accountId), eq(alarms.name, row.name)));
    if (same)
      throw new ApiError(409, "ResourceAlreadyExists", `alarmName: an alarm named '${row.name}' exists`, {
        field: "alarmName",
      });
    throw new ApiError(400, "LimitExceeded", `An account may have at most ${MAX_ALARMS_PER_ACCOUNT} alarms`);
  }
  return alarmView(row);
}

async function ownRow(fleet: Fleet, id: string): Promise<Row> {
  const [row] = await fleet.db
    .select()
    .from(alarms)
    .where(and(eq(alarms.id, id), ownedBy(fleet.caller, alarms.accountId)));
  if (!row) throw alarmNotFound(id);
  return row;
}

export async function getAlarm(fleet: Fleet, id: string) {
  return alarmView(await ownRow(fleet, id));
}

export async function deleteAlarm(fleet: Fleet, id: string) {
  const row = await ownRow(fleet, id);
  await fleet.db.delete(alarms).where(eq(alarms.id, row.id));
}

export async function listAlarms(fleet: Fleet, f: { cursor?: string; limit: number; stateValue?: string }) {
  const rows = await fleet.db
    .select()
    .from(alarms)
    .where(
      and(
        ownedBy(fleet.caller, alarms.accountId),
        f.cursor ? gt(alarms.id, f.cursor) : undefined,
        f.stateValue ? eq(alarms.state, f.stateValue) : undefined,
      ),
    )
    .orderBy(asc(alarms.id))
    .limit(f.limit + 1);
  const { page, nextCursor } = pageOf(rows, f.limit, (r) => r.id);
  return { alarms: page.map(alarmView), nextCursor };
}
