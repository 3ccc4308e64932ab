// Metric samples in D1: each series (a metric and its dimensions) sample by sample, kept for
// RAW_RETENTION_MS of simulated time, and rolled up over 1 min, 5 min and 1 h buckets kept
// longer, after CloudWatch's retention schedule (Amazon CloudWatch User Guide, "Metrics
// retention": sub-minute points 3 hours, 60 s points 15 days, 300 s points 63 days, 3600 s
// points 455 days). Storing is idempotent: a sample is keyed by its series and time, and
// a rollup is recomputed from the samples, never incremented.
import type { Db } from "../db/client";
import type { Dimensions, MetricsMessage } from "../host/metrics-catalog";

const MINUTE = 60_000;
const DAY = 86_400_000;

export const RAW_RETENTION_MS = 3 * 3_600_000;
/** Rollup periods (ms) and how long each is kept. */
export const ROLLUPS = [
  { periodMs: MINUTE, retentionMs: 15 * DAY },
  { periodMs: 5 * MINUTE, retentionMs: 63 * DAY },
  { periodMs: 60 * MINUTE, retentionMs: 455 * DAY },
] as const;

/** Dimensions in one canonical order, so that a series has one key however they were written. */
export function canonicalDims(d: Dimensions): string {
  const sorted = Object.entries(d)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return JSON.stringify(Object.fromEntries(sorted));
}

export const seriesKey = (metric: string, dims: string) => `${metric}|${dims}`;

const INSERT_SAMPLES = `INSERT INTO metric_samples (series, time, account_id, metric, dims, value)
  SELECT json_extract(j.value, '$.s'), ?2, ?3, json_extract(j.value, '$.m'), json_extract(j.value, '$.d'), json_extract(j.value, '$.v')
  FROM json_each(?1) AS j WHERE true ON CONFLICT (series, time) DO NOTHING`;

const rollupSql = (
  periodMs: number,
) => `INSERT INTO metric_rollups (series, period, bucket, account_id, metric, dims, count, sum, min, max)
  SELECT series, ${periodMs}, ?2, account_id, metric, dims, count(*), sum(value), min(value), max(value)
  FROM metric_samples WHERE series IN (SELECT json_extract(value, '$.s') FROM json_each(?1)) AND time >= ?2 AND time < ?2 + ${periodMs}
  GROUP BY series
  ON CONFLICT (series, period, bucket) DO UPDATE SET count = excluded.count, sum = excluded.sum, min = excluded.min, max = excluded.max`;

/** The statements that store one message's samples and bring their buckets' rollups up to date. */
export function storeStatements(db: Db, m: MetricsMessage): D1PreparedStatement[] {
  const d1 = db.$client;
  const rows = m.values
    .filter((v) => Number.isFinite(v.value))
    .map((v) => {
      const dims = canonicalDims({ ...m.dimensions, ...v.dimensions });
      return { s: seriesKey(v.metric, dims), m: v.metric, d: dims, v: v.value };
    });
  if (rows.length === 0) return [];
  const json = JSON.stringify(rows);
  const keys = JSON.stringify(rows.map((r) => ({ s: r.s })));
  return [
    d1.prepare(INSERT_SAMPLES).bind(json, m.time, m.accountId),
    ...ROLLUPS.map((r) =>
      d1.prepare(rollupSql(r.periodMs)).bind(keys, Math.floor(m.time / r.periodMs) * r.periodMs),
    ),
  ];
}

/** Drops samples and rollups past their retention, as of simulated time `now`. */
export async function pruneMetrics(db: Db, now: number): Promise<void> {
  const d1 = db.$client;
  await d1.batch([
    d1.prepare("DELETE FROM metric_samples WHERE time < ?").bind(now - RAW_RETENTION_MS),
    ...ROLLUPS.map((r) =>
      d1
        .prepare("DELETE FROM metric_rollups WHERE period = ? AND bucket < ?")
        .bind(r.periodMs, now - r.retentionMs),
    ),
  ]);
}
