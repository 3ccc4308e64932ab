// Evaluating alarms on the metrics that arrived: for each alarm on them, the statistic over
// each of its last N periods (the newest being the one the newest sample falls in), then
// CloudWatch's M-of-N rule with its treatment of missing data. A change of state is stored
// with its event (alarm.state-changed) in one batch, then fanned out to webhooks.
import { and, inArray } from "drizzle-orm";
import type { Db } from "../db/client";
import { alarms } from "../db/schema";
import { fanOut } from "../events/fanout";
import type { ControlEvent } from "../events/log";
import type { AlarmState } from "../events/types";
import type { Dimensions, MetricName } from "../host/metrics-catalog";
import type { Comparison, MissingData } from "./alarms";
import { Fleet } from "./context";
import { type Datapoint, metricStatistics, type Statistic } from "./metrics";
import { IN_LIST } from "./mirror";

const FIELD: Record<Statistic, keyof Datapoint> = {
  SampleCount: "sampleCount",
  Average: "average",
  Sum: "sum",
  Minimum: "minimum",
  Maximum: "maximum",
};

export function breaches(value: number, c: Comparison, threshold: number): boolean {
  switch (c) {
    case "GreaterThanThreshold":
      return value > threshold;
    case "GreaterThanOrEqualToThreshold":
      return value >= threshold;
    case "LessThanThreshold":
      return value < threshold;
    case "LessThanOrEqualToThreshold":
      return value <= threshold;
  }
}

/**
 * The state N periods' values (null where no data) put an alarm in; null to keep its state.
 * Missing periods count as the treatment says: breaching, not breaching, or not at all; when
 * every period is missing, `missing` means INSUFFICIENT_DATA and `ignore` keeps the state.
 */
export function decide(
  values: (number | null)[],
  a: { comparison: Comparison; threshold: number; datapointsToAlarm: number; treatMissing: MissingData },
): { state: AlarmState; reason: string } | null {
  const present = values.filter((v): v is number => v !== null);
  const missing = values.length - present.length;
  let breaching = present.filter((v) => breaches(v, a.comparison, a.threshold)).length;
  if (a.treatMissing === "breaching") breaching += missing;
  if (present.length === 0 && a.treatMissing !== "breaching" && a.treatMissing !== "notBreaching") {
    if (a.treatMissing === "ignore") return null;
    return { state: "INSUFFICIENT_DATA", reason: `no datapoints in the last ${values.length} periods` };
  }
  const shown = values.map((v) => (v === null ? "missing" : String(Math.round(v * 1000) / 1000))).join(", ");
  if (breaching >= a.datapointsToAlarm) {
    return {
      state: "ALARM",
      reason: `${breaching} of the last ${values.length} datapoints [${shown}] crossed the threshold (${a.comparison} ${a.threshold})`,
    };
  }
  return {
    state: "OK",
    reason: `${breaching} of the last ${values.length} datapoints [${shown}] crossed the threshold (${a.comparison} ${a.threshold}); ${a.datapointsToAlarm} needed`,
  };
}

export async function evaluateAlarms(
  env: Env,
  db: Db,
  on: { metrics: string[]; accounts: string[]; now: number },
): Promise<number> {
  if (on.metrics.length === 0 || on.accounts.length === 0) return 0;
  const rows = await db
    .select()
    .from(alarms)
    .where(and(inArray(alarms.metric, on.metrics), inArray(alarms.accountId, on.accounts.slice(0, IN_LIST))));
  let changed = 0;
  for (const a of rows) {
    const p = a.period * 1000;
    const end = Math.floor(on.now / p) * p + p;
    const start = end - a.evaluationPeriods * p;
    const fleet = new Fleet(env, { role: "tenant", accountId: a.accountId, keyId: "alarm-evaluation" });
    const stats = await metricStatistics(fleet, {
      metricName: a.metric as MetricName,
      dimensions: JSON.parse(a.dims) as Dimensions,
      startTime: start,
      endTime: end,
      period: a.period,
      statistics: [a.statistic as Statistic],
      extendedStatistics: [],
    });
    const byTime = new Map(
      stats.datapoints.map((d) => [Date.parse(d.timestamp), d[FIELD[a.statistic as Statistic]] as number]),
    );
    const values = Array.from({ length: a.evaluationPeriods }, (_, i) => byTime.get(start + i * p) ?? null);
    const next = decide(values, {
      comparison: a.comparison as Comparison,
      threshold: a.threshold,
      datapointsToAlarm: a.datapointsToAlarm,
      treatMissing: a.treatMissing as MissingData,
    });
    const d1 = db.$client;
    if (!next || next.state === a.state) {
      await d1
        .prepare("UPDATE alarms SET evaluated_to = ? WHERE id = ? AND version = ?")
        .bind(end, a.id, a.version)
        .run();
      continue;
    }
    const event: ControlEvent = {
      id: crypto.randomUUID(),
      type: "alarm.state-changed",
      accountId: a.accountId,
      time: on.now,
      resourceId: a.id,
      previousState: a.state,
      state: next.state,
      data: {
        alarmId: a.id,
        alarmName: a.name,
        metricName: a.metric,
        dimensions: JSON.parse(a.dims),
        previousState: a.state,
        state: next.state,
        reason: next.reason,
        threshold: a.threshold,
        comparisonOperator: a.comparison,
      },
    };
    // The change and its event together, and only if nobody changed the alarm meanwhile.
    const [upd] = await d1.batch([
      d1
        .prepare(
          "UPDATE alarms SET state = ?, state_reason = ?, state_time = ?, evaluated_to = ?, version = version + 1 WHERE id = ? AND version = ?",
        )
        .bind(next.state, next.reason, on.now, end, a.id, a.version),
      d1
        .prepare(
          `INSERT INTO events (id, account_id, type, time, host_id, instance_id, state, previous_state, body, wall_time, resource_id)
           SELECT ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?, ? WHERE changes() = 1`,
        )
        .bind(
          event.id,
          event.accountId,
          event.type,
          event.time,
          event.state,
          event.previousState,
          JSON.stringify({ data: event.data }),
          Date.now(),
          event.resourceId,
        ),
    ]);
    if (upd.meta.changes !== 1) continue;
    changed++;
    await fanOut(db, env.WEBHOOKS, [event.id]);
  }
  return changed;
}
