// Reading metrics as CloudWatch's GetMetricStatistics and ListMetrics answer: the statistics
// of a metric over the series that match the dimensions asked, one datapoint per period.
// Recent data (RAW_RETENTION_MS) is answered from the samples themselves, so any period and
// start work and percentiles are exact; older data from the finest rollup still kept, with
// CloudWatch's rule that the period then be a multiple of the rollup's.

import {
  DIMENSIONS,
  type DimensionName,
  type Dimensions,
  METRICS,
  type MetricName,
  type MetricUnit,
} from "../host/metrics-catalog";
import type { Fleet } from "./context";
import { ApiError, invalidParameter } from "./errors";
import { MAX_DATAPOINTS, MAX_PERCENTILE_SAMPLES } from "./limits";
import { RAW_RETENTION_MS, ROLLUPS } from "./metrics-store";

export const STATISTICS = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"] as const;
export type Statistic = (typeof STATISTICS)[number];

/** Dimensions that split one counter by kind: a series that has one is matched only by naming it. */
const SPLITTING: DimensionName[] = ["ExitReason", "Hypercall"];

export interface StatisticsQuery {
  metricName: MetricName;
  dimensions: Dimensions;
  /** Simulated ms. */
  startTime: number;
  endTime: number;
  /** Seconds, a multiple of 60 (CloudWatch's rule for standard-resolution metrics). */
  period: number;
  statistics: Statistic[];
  /** Percentiles as CloudWatch writes them: p0.0 to p100. */
  extendedStatistics: string[];
}

export interface Datapoint {
  timestamp: string;
  sampleCount?: number;
  average?: number;
  sum?: number;
  minimum?: number;
  maximum?: number;
  /** The percentiles asked for, in the order asked. */
  extendedStatistics?: { statistic: string; value: number }[];
}

export interface StatisticsAnswer {
  label: MetricName;
  unit: MetricUnit;
  /** Where the datapoints come from: the samples, or the rollup of that period (seconds). */
  source: "samples" | "rollup-60" | "rollup-300" | "rollup-3600";
  datapoints: Datapoint[];
}

/** A percentile's value by linear interpolation between the closest ranks of sorted `v`. */
export function percentile(v: readonly number[], p: number): number {
  if (v.length === 1) return v[0];
  const rank = (p / 100) * (v.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  // A rank that falls on a value is that value, exactly.
  if (lo === hi) return v[lo];
  return v[lo] + (v[hi] - v[lo]) * (rank - lo);
}

export function parsePercentile(field: string, s: string): number {
  const m = /^p(\d{1,3}(\.\d{1,2})?)$/.exec(s);
  const p = m ? Number(m[1]) : Number.NaN;
  if (!(p >= 0 && p <= 100))
    throw invalidParameter(field, `'${s}' is not a percentile (p0 to p100, such as p90 or p99.9)`);
  return p;
}

/** The WHERE clause for a metric's series matching `dims` and visible to the caller. */
function seriesFilter(fleet: Fleet, metric: string, dims: Dimensions): { sql: string; params: unknown[] } {
  const parts = ["metric = ?"];
  const params: unknown[] = [metric];
  if (fleet.caller.role === "tenant") {
    parts.push("account_id = ?");
    params.push(fleet.caller.accountId);
  }
  for (const name of DIMENSIONS) {
    const v = dims[name];
    if (v !== undefined) {
      parts.push(`json_extract(dims, '$.${name}') = ?`);
      params.push(v);
    } else if (SPLITTING.includes(name)) {
      parts.push(`json_extract(dims, '$.${name}') IS NULL`);
    }
  }
  return { sql: parts.join(" AND "), params };
}

export async function metricStatistics(fleet: Fleet, q: StatisticsQuery): Promise<StatisticsAnswer> {
  if (q.statistics.length === 0 && q.extendedStatistics.length === 0) {
    throw invalidParameter("statistics", "name at least one statistic or extended statistic");
  }
  if (!Number.isInteger(q.period) || q.period < 60 || q.period % 60 !== 0) {
    throw invalidParameter("period", "must be a multiple of 60 seconds");
  }
  if (!(q.endTime > q.startTime)) throw invalidParameter("endTime", "must be after startTime");
  const periodMs = q.period * 1000;
  const points = Math.ceil((q.endTime - q.startTime) / periodMs);
  if (points > MAX_DATAPOINTS) {
    throw invalidParameter(
      "period",
      `the range holds ${points} periods; at most ${MAX_DATAPOINTS} datapoints in one request`,
    );
  }
  const percentiles = q.extendedStatistics.map((s, i) => ({
    name: s,
    p: parsePercentile(`extendedStatistics[${i}]`, s),
  }));
  const now = await fleet.now();
  const d1 = fleet.db.$client;
  const f = seriesFilter(fleet, q.metricName, q.dimensions);
  const label = q.metricName;
  const unit: MetricUnit = METRICS[q.metricName].unit;

  let source: StatisticsAnswer["source"] = "samples";
  let start = q.startTime;
  type Agg = { bucket: number; n: number; s: number; lo: number; hi: number };
  let rows: Agg[];
  if (q.startTime >= now - RAW_RETENTION_MS) {
    rows = (
      await d1
        .prepare(
          `SELECT ?1 + CAST((time - ?1) / ?2 AS INTEGER) * ?2 AS bucket, count(*) AS n, sum(value) AS s, min(value) AS lo, max(value) AS hi
           FROM metric_samples WHERE time >= ?1 AND time < ?3 AND ${f.sql} GROUP BY bucket ORDER BY bucket`,
        )
        .bind(start, periodMs, q.endTime, ...f.params)
        .all<Agg>()
    ).results;
  } else {
    const r = ROLLUPS.find((x) => q.startTime >= now - x.retentionMs);
    if (!r) return { label, unit, source: "rollup-3600", datapoints: [] };
    if (periodMs % r.periodMs !== 0) {
      throw invalidParameter(
        "period",
        `data from more than ${Math.round(RAW_RETENTION_MS / 3_600_000)} hours ago is kept as ${r.periodMs / 1000}-second rollups: the period must be a multiple of ${r.periodMs / 1000}`,
      );
    }
    if (percentiles.length > 0) {
      throw invalidParameter(
        "extendedStatistics",
        `percentiles need the samples themselves, which are kept for ${Math.round(RAW_RETENTION_MS / 3_600_000)} hours`,
      );
    }
    source = `rollup-${r.periodMs / 1000}` as StatisticsAnswer["source"];
    start = Math.floor(q.startTime / r.periodMs) * r.periodMs;
    rows = (
      await d1
        .prepare(
          `SELECT ?1 + CAST((bucket - ?1) / ?2 AS INTEGER) * ?2 AS bucket, sum(count) AS n, sum(sum) AS s, min(min) AS lo, max(max) AS hi
           FROM metric_rollups WHERE period = ?4 AND bucket >= ?1 AND bucket < ?3 AND ${f.sql} GROUP BY 1 ORDER BY 1`,
        )
        .bind(start, periodMs, q.endTime, r.periodMs, ...f.params)
        .all<Agg>()
    ).results;
  }

  let values = new Map<number, number[]>();
  if (percentiles.length > 0 && rows.length > 0) {
    const res = await d1
      .prepare(
        `SELECT ?1 + CAST((time - ?1) / ?2 AS INTEGER) * ?2 AS bucket, value FROM metric_samples
         WHERE time >= ?1 AND time < ?3 AND ${f.sql} ORDER BY bucket, value LIMIT ${MAX_PERCENTILE_SAMPLES + 1}`,
      )
      .bind(start, periodMs, q.endTime, ...f.params)
      .all<{ bucket: number; value: number }>();
    if (res.results.length > MAX_PERCENTILE_SAMPLES) {
      throw new ApiError(
        400,
        "InvalidParameterCombination",
        `extendedStatistics: the range holds more than ${MAX_PERCENTILE_SAMPLES} samples; ask for fewer dimensions or a shorter range`,
        { field: "extendedStatistics" },
      );
    }
    values = new Map();
    for (const r of res.results) {
      const list = values.get(r.bucket) ?? [];
      list.push(r.value);
      values.set(r.bucket, list);
    }
  }

  const wanted = new Set(q.statistics);
  const datapoints = rows.map((r) => {
    const p: Datapoint = { timestamp: new Date(r.bucket).toISOString() };
    if (wanted.has("SampleCount")) p.sampleCount = r.n;
    if (wanted.has("Average")) p.average = r.s / r.n;
    if (wanted.has("Sum")) p.sum = r.s;
    if (wanted.has("Minimum")) p.minimum = r.lo;
    if (wanted.has("Maximum")) p.maximum = r.hi;
    if (percentiles.length > 0) {
      const v = values.get(r.bucket) ?? [];
      p.extendedStatistics = percentiles.map((x) => ({ statistic: x.name, value: percentile(v, x.p) }));
    }
    return p;
  });
  return { label, unit, source, datapoints };
}

export interface MetricListing {
  metricName: MetricName;
  unit: MetricUnit;
  dimensions: { name: DimensionName; value: string }[];
}

/** The series with data in the last 15 days (the 1-minute rollups' retention), a page at a time. */
export async function listMetrics(
  fleet: Fleet,
  f: { metricName?: MetricName; dimensions: Dimensions; cursor?: string; limit: number },
) {
  const parts = ["period = ?", "bucket >= ?"];
  const params: unknown[] = [ROLLUPS[0].periodMs, (await fleet.now()) - ROLLUPS[0].retentionMs];
  if (f.metricName) {
    parts.push("metric = ?");
    params.push(f.metricName);
  }
  if (fleet.caller.role === "tenant") {
    parts.push("account_id = ?");
    params.push(fleet.caller.accountId);
  }
  for (const name of DIMENSIONS) {
    const v = f.dimensions[name];
    if (v !== undefined) {
      parts.push(`json_extract(dims, '$.${name}') = ?`);
      params.push(v);
    }
  }
  if (f.cursor) {
    parts.push("series > ?");
    params.push(f.cursor);
  }
  const res = await fleet.db.$client
    .prepare(
      `SELECT series, metric, dims FROM metric_rollups WHERE ${parts.join(" AND ")} GROUP BY series ORDER BY series LIMIT ?`,
    )
    .bind(...params, f.limit + 1)
    .all<{ series: string; metric: MetricName; dims: string }>();
  const rows = res.results;
  const page = rows.slice(0, f.limit);
  return {
    metrics: page.map((r) => ({
      metricName: r.metric,
      unit: METRICS[r.metric].unit as MetricUnit,
      dimensions: Object.entries(JSON.parse(r.dims) as Record<DimensionName, string>).map(
        ([name, value]) => ({
          name: name as DimensionName,
          value,
        }),
      ),
    })),
    nextCursor: rows.length > f.limit ? page[page.length - 1].series : null,
  };
}
