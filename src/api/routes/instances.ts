import { createRoute, z } from "@hono/zod-openapi";
import { Fleet } from "../../fleet/context";
import { act, describeInstance, listInstances, runInstances } from "../../fleet/instances";
import type { InstanceAction } from "../../sim/lifecycle";
import { router } from "../router";
import { Instance, InstanceIdParam, Limit, problemResponses, StateChange, StateNames } from "../schemas";

// EC2's own limits: tag keys up to 128 characters, values up to 256, 50 tags per resource;
// client tokens up to 64 ASCII characters.
const Tags = z
  .record(z.string().min(1).max(128), z.string().max(256))
  .refine((t) => Object.keys(t).length <= 50, "at most 50 tags")
  .default({});

export const WORKLOADS = ["cpu_intensive", "memory_intensive", "io_intensive", "idle", "bursty"] as const;

const RunInstances = z
  .strictObject({
    instanceType: z.string().min(1).max(32).openapi({ example: "m5.large" }),
    minCount: z.number().int().min(1).max(1000).default(1),
    maxCount: z.number().int().min(1).max(1000).default(1),
    availabilityZone: z.string().min(1).max(32).optional(),
    placementStrategy: z.enum(["binpack", "spread"]).default("binpack"),
    clientToken: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[\x20-\x7e]+$/, "must be printable ASCII")
      .optional(),
    tags: Tags,
    workload: z.enum(WORKLOADS).default("idle"),
  })
  .openapi("RunInstances");

const Reservation = z
  .object({ reservationId: z.string(), instances: z.array(Instance) })
  .openapi("Reservation");

const ListQuery = z.strictObject({
  state: z
    .string()
    .transform((s) => s.split(","))
    .pipe(z.array(StateNames))
    .optional(),
  instanceType: z.string().optional(),
  hostId: z.string().optional(),
  availabilityZone: z.string().optional(),
  tag: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .openapi({ description: "key=value, or key alone for any value; repeat for several" }),
  cursor: z.string().optional(),
  limit: Limit,
});

function parseTags(tag: string | string[] | undefined): [string, string | null][] {
  const list = tag === undefined ? [] : Array.isArray(tag) ? tag : [tag];
  return list.map((t) => {
    const eq = t.indexOf("=");
    return eq < 0 ? [t, null] : [t.slice(0, eq), t.slice(eq + 1)];
  });
}

function actionRoute(action: InstanceAction, summary: string) {
  return createRoute({
    method: "post",
    path: `/instances/{id}/${action}`,
    tags: ["instances"],
    summary,
    request: { params: InstanceIdParam },
    responses: {
      200: { description: "The state change", content: { "application/json": { schema: StateChange } } },
      ...problemResponses(400, 404, 409, 503),
    },
  });
}

export const instanceRoutes = router()
  .openapi(
    createRoute({
      method: "post",
      path: "/instances",
      tags: ["instances"],
      summary: "Launch instances (RunInstances): between minCount and maxCount, or none",
      request: { body: { content: { "application/json": { schema: RunInstances } }, required: true } },
      responses: {
        201: {
          description: "The reservation, its instances pending",
          content: { "application/json": { schema: Reservation } },
        },
        ...problemResponses(400, 409, 413, 503),
      },
    }),
    async (c) => c.json(await runInstances(new Fleet(c.env), c.req.valid("json")), 201),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/instances",
      tags: ["instances"],
      summary: "List instances, filtered, a page at a time",
      request: { query: ListQuery },
      responses: {
        200: {
          description: "A page of instances",
          content: {
            "application/json": {
              schema: z.object({ instances: z.array(Instance), nextCursor: z.string().nullable() }),
            },
          },
        },
        ...problemResponses(400),
      },
    }),
    async (c) => {
      const q = c.req.valid("query");
      return c.json(await listInstances(new Fleet(c.env), { ...q, tags: parseTags(q.tag) }), 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/instances/{id}",
      tags: ["instances"],
      summary: "One instance",
      request: { params: InstanceIdParam },
      responses: {
        200: { description: "The instance", content: { "application/json": { schema: Instance } } },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await describeInstance(new Fleet(c.env), c.req.valid("param").id), 200),
  )
  .openapi(actionRoute("stop", "Stop: releases the host's resources"), async (c) =>
    c.json(await act(new Fleet(c.env), c.req.valid("param").id, "stop"), 200),
  )
  .openapi(actionRoute("start", "Start a stopped instance, possibly on another host"), async (c) =>
    c.json(await act(new Fleet(c.env), c.req.valid("param").id, "start"), 200),
  )
  .openapi(actionRoute("reboot", "Reboot a running instance in place"), async (c) =>
    c.json(await act(new Fleet(c.env), c.req.valid("param").id, "reboot"), 200),
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/instances/{id}",
      tags: ["instances"],
      summary: "Terminate; the instance stays listed for an hour",
      request: { params: InstanceIdParam },
      responses: {
        200: { description: "The state change", content: { "application/json": { schema: StateChange } } },
        ...problemResponses(400, 404, 409),
      },
    }),
    async (c) => c.json(await act(new Fleet(c.env), c.req.valid("param").id, "terminate"), 200),
  );
