// Metrics (GetMetricStatistics and ListMetrics, after CloudWatch) and alarms on them.
import { createRoute, z } from "@hono/zod-openapi";
import { createAlarm, deleteAlarm, getAlarm, listAlarms } from "../../fleet/alarms";
import { invalidParameter } from "../../fleet/errors";
import { MAX_EXTENDED_STATISTICS } from "../../fleet/limits";
import { listMetrics, metricStatistics, STATISTICS, type Statistic } from "../../fleet/metrics";
import type { Dimensions } from "../../host/metrics-catalog";
import { fleetOf } from "../auth";
import { router } from "../router";
import {
  Alarm,
  AlarmId,
  AlarmPage,
  Limit,
  MetricName,
  MetricPage,
  MetricStatistics,
  PutAlarm,
  problemResponses,
  Timestamp,
  words,
} from "../schemas";
import { HostId, InstanceId, InstanceTypeName, Zone } from "../schemas/common";

/** The dimensions as query parameters, camelCase as the rest of the API. */
const dimensionQuery = {
  instanceId: InstanceId.optional(),
  hostId: HostId.optional(),
  instanceType: InstanceTypeName.optional(),
  availabilityZone: Zone.optional(),
  exitReason: words(32)
    .regex(/^[a-z_]+$/)
    .optional(),
  hypercall: words(32)
    .regex(/^[a-z_]+$/)
    .optional(),
};

function dimensionsOf(q: Partial<Record<keyof typeof dimensionQuery, string>>): Dimensions {
  const d: Dimensions = {};
  if (q.instanceId) d.InstanceId = q.instanceId;
  if (q.hostId) d.HostId = q.hostId;
  if (q.instanceType) d.InstanceType = q.instanceType;
  if (q.availabilityZone) d.AvailabilityZone = q.availabilityZone;
  if (q.exitReason) d.ExitReason = q.exitReason;
  if (q.hypercall) d.Hypercall = q.hypercall;
  return d;
}

/** A comma-separated list in one query parameter, each item checked. */
const list = (max: number, pattern: RegExp, example: string) =>
  words(max * 16)
    .regex(pattern)
    .optional()
    .openapi({ example });

function splitStatistics(text: string | undefined): Statistic[] {
  if (!text) return [];
  return text.split(",").map((s, i) => {
    if (!(STATISTICS as readonly string[]).includes(s)) {
      throw invalidParameter(`statistics[${i}]`, `must be one of ${STATISTICS.join(", ")}`);
    }
    return s as Statistic;
  });
}

const AlarmParams = z.object({ id: AlarmId.openapi({ param: { name: "id", in: "path" } }) });

export const metricRoutes = router()
  .openapi(
    createRoute({
      method: "get",
      path: "/metrics/statistics",
      tags: ["metrics"],
      summary:
        "Statistics of a metric over the series matching the dimensions, one datapoint per period (as CloudWatch's GetMetricStatistics)",
      request: {
        query: z.strictObject({
          metricName: MetricName,
          ...dimensionQuery,
          startTime: Timestamp.openapi({
            description: "simulated time",
            example: "2026-01-01T00:00:00.000Z",
          }),
          endTime: Timestamp.openapi({ example: "2026-01-01T01:00:00.000Z" }),
          period: z.coerce
            .number()
            .int()
            .min(60)
            .max(86_400 * 455)
            .openapi({ description: "seconds, a multiple of 60" }),
          statistics: list(5, /^[A-Za-z]+(,[A-Za-z]+)*$/, "Average,Maximum").openapi({
            description: "comma-separated; all five when neither this nor extendedStatistics is given",
          }),
          extendedStatistics: list(MAX_EXTENDED_STATISTICS, /^p[0-9.]+(,p[0-9.]+)*$/, "p50,p99"),
        }),
      },
      responses: {
        200: { description: "The datapoints", content: { "application/json": { schema: MetricStatistics } } },
        ...problemResponses(400),
      },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const extended = q.extendedStatistics ? q.extendedStatistics.split(",") : [];
      if (extended.length > MAX_EXTENDED_STATISTICS) {
        throw invalidParameter("extendedStatistics", `at most ${MAX_EXTENDED_STATISTICS}`);
      }
      const answer = await metricStatistics(fleetOf(c), {
        metricName: q.metricName,
        dimensions: dimensionsOf(q),
        startTime: Date.parse(q.startTime),
        endTime: Date.parse(q.endTime),
        period: q.period,
        statistics: q.statistics || extended.length > 0 ? splitStatistics(q.statistics) : [...STATISTICS],
        extendedStatistics: extended,
      });
      return c.json(answer, 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/metrics",
      tags: ["metrics"],
      summary: "The metrics and dimensions with data in the last 15 days (as CloudWatch's ListMetrics)",
      request: {
        query: z.strictObject({
          metricName: MetricName.optional(),
          ...dimensionQuery,
          cursor: words(512).optional().openapi({ description: "the nextCursor of the previous page" }),
          limit: Limit,
        }),
      },
      responses: {
        200: { description: "A page of metrics", content: { "application/json": { schema: MetricPage } } },
        ...problemResponses(400),
      },
    }),
    async (c) => {
      const q = c.req.valid("query");
      return c.json(
        await listMetrics(fleetOf(c), {
          metricName: q.metricName,
          dimensions: dimensionsOf(q),
          cursor: q.cursor,
          limit: q.limit,
        }),
        200,
      );
    },
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/alarms",
      tags: ["metrics"],
      summary: "Create a metric alarm on the account's instances' metrics (as CloudWatch's PutMetricAlarm)",
      request: { body: { content: { "application/json": { schema: PutAlarm } }, required: true } },
      responses: {
        201: {
          description: "The alarm, INSUFFICIENT_DATA until evaluated",
          content: { "application/json": { schema: Alarm } },
        },
        ...problemResponses(400, 409),
      },
    }),
    async (c) => c.json(await createAlarm(fleetOf(c), c.req.valid("json")), 201),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/alarms",
      tags: ["metrics"],
      summary: "The account's alarms",
      request: {
        query: z.strictObject({
          stateValue: z.enum(["OK", "ALARM", "INSUFFICIENT_DATA"]).optional(),
          cursor: AlarmId.optional(),
          limit: Limit,
        }),
      },
      responses: {
        200: { description: "A page of alarms", content: { "application/json": { schema: AlarmPage } } },
        ...problemResponses(400),
      },
    }),
    async (c) => c.json(await listAlarms(fleetOf(c), c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/alarms/{id}",
      tags: ["metrics"],
      summary: "One alarm and its state",
      request: { params: AlarmParams },
      responses: {
        200: { description: "The alarm", content: { "application/json": { schema: Alarm } } },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await getAlarm(fleetOf(c), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/alarms/{id}",
      tags: ["metrics"],
      summary: "Delete an alarm",
      request: { params: AlarmParams },
      responses: {
        200: { description: "The alarm as it was", content: { "application/json": { schema: Alarm } } },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => {
      const fleet = fleetOf(c);
      const id = c.req.valid("param").id;
      const was = await getAlarm(fleet, id);
      await deleteAlarm(fleet, id);
      return c.json(was, 200);
    },
  );
