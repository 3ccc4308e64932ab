// Metrics, their statistics and alarms on them, shaped after CloudWatch's GetMetricStatistics,
// ListMetrics and PutMetricAlarm (camelCase, as the rest of this API).
import { z } from "@hono/zod-openapi";
import { ALARM_STATES } from "../../events/types";
import { COMPARISONS, MISSING_DATA } from "../../fleet/alarms";
import { ALARM_NAME_MAX_LENGTH, MAX_DATAPOINTS, MAX_EXTENDED_STATISTICS } from "../../fleet/limits";
import { STATISTICS } from "../../fleet/metrics";
import { DIMENSIONS, METRIC_UNITS } from "../../host/metrics-catalog";
import { MAX_PAGE, Timestamp } from "./common";
import { AlarmId, MetricDimensions, MetricName, words } from "./metrics-shared";

export * from "./metrics-shared";

export const Statistic = z.enum(STATISTICS);

export const Datapoint = z
  .object({
    timestamp: Timestamp,
    sampleCount: z.number().optional(),
    average: z.number().optional(),
    sum: z.number().optional(),
    minimum: z.number().optional(),
    maximum: z.number().optional(),
    extendedStatistics: z
      .array(z.object({ statistic: words(8).regex(/^p\d{1,3}(\.\d{1,2})?$/), value: z.number() }))
      .max(MAX_EXTENDED_STATISTICS)
      .optional(),
  })
  .openapi("Datapoint");

export const MetricStatistics = z
  .object({
    label: MetricName,
    unit: z.enum(METRIC_UNITS),
    source: z.enum(["samples", "rollup-60", "rollup-300", "rollup-3600"]),
    datapoints: z.array(Datapoint).max(MAX_DATAPOINTS),
  })
  .openapi("MetricStatistics");

export const MetricListing = z
  .object({
    metricName: MetricName,
    unit: z.enum(METRIC_UNITS),
    dimensions: z.array(z.object({ name: z.enum(DIMENSIONS), value: words(64) })).max(DIMENSIONS.length),
  })
  .openapi("MetricListing");

export const MetricPage = z
  .object({
    metrics: z.array(MetricListing).max(MAX_PAGE),
    nextCursor: words(512).nullable(),
  })
  .openapi("MetricPage");

export const PutAlarm = z
  .strictObject({
    alarmName: words(ALARM_NAME_MAX_LENGTH).min(1),
    metricName: MetricName,
    dimensions: MetricDimensions.default({}),
    statistic: Statistic,
    period: z.number().int().min(60).max(604_800).openapi({ description: "seconds, a multiple of 60" }),
    evaluationPeriods: z.number().int().min(1).max(1440),
    datapointsToAlarm: z.number().int().min(1).max(1440).optional(),
    threshold: z.number(),
    comparisonOperator: z.enum(COMPARISONS),
    treatMissingData: z.enum(MISSING_DATA).optional(),
  })
  .openapi("PutAlarm");

export const Alarm = z
  .object({
    alarmId: AlarmId,
    alarmName: words(ALARM_NAME_MAX_LENGTH),
    metricName: MetricName,
    dimensions: MetricDimensions,
    statistic: Statistic,
    period: z.number().int(),
    evaluationPeriods: z.number().int(),
    datapointsToAlarm: z.number().int(),
    threshold: z.number(),
    comparisonOperator: z.enum(COMPARISONS),
    treatMissingData: z.enum(MISSING_DATA),
    stateValue: z.enum(ALARM_STATES),
    stateReason: words(1024),
    stateUpdatedTimestamp: Timestamp,
  })
  .openapi("Alarm");

export const AlarmPage = z
  .object({ alarms: z.array(Alarm).max(MAX_PAGE), nextCursor: AlarmId.nullable() })
  .openapi("AlarmPage");
