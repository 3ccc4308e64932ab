import { createRoute, z } from "@hono/zod-openapi";
import { act } from "../../fleet/instance-actions";
import { describeInstance, listInstances } from "../../fleet/instance-queries";
import { instanceCpu } from "../../fleet/instance-telemetry";
import { setWorkload } from "../../fleet/instance-workload";
import { runInstances } from "../../fleet/launch";
import { MAX_GROUPS_PER_INTERFACE, MAX_LAUNCH_COUNT, MAX_TAG_FILTERS } from "../../fleet/limits";
import type { InstanceAction } from "../../sim/lifecycle";
import { fleetOf } from "../auth";
import { router } from "../router";
import {
  ClientToken,
  CpuCounters,
  HostId,
  Instance,
  InstanceId,
  InstanceIdParam,
  InstancePage,
  InstanceTypeName,
  LaunchPlacementGroup,
  Limit,
  Paging,
  problemResponses,
  Reservation,
  SecurityGroupId,
  StateChange,
  StateNames,
  SubnetId,
  TagFilter,
  Tags,
  VirtualizationType,
  Workload,
  Zone,
} from "../schemas";

const RunInstances = z
  .strictObject({
    instanceType: InstanceTypeName,
    minCount: z.number().int().min(1).max(MAX_LAUNCH_COUNT).default(1),
    maxCount: z.number().int().min(1).max(MAX_LAUNCH_COUNT).default(1),
    availabilityZone: Zone.optional(),
    placementStrategy: z.enum(["binpack", "spread"]).default("binpack"),
    clientToken: ClientToken.optional(),
    tags: Tags.default({}),
    workload: Workload.default("idle"),
    paging: Paging.default({}),
    // hvm or paravirtual where the type offers both (m3); the type's first when absent.
    virtualizationType: VirtualizationType.optional(),
    // The primary interface's subnet (its zone is the launch's) and groups; the default VPC's when absent.
    subnetId: SubnetId.optional(),
    securityGroupIds: z.array(SecurityGroupId).max(MAX_GROUPS_PER_INTERFACE).optional(),
    // A placement group of the account's: its rule (cluster, partition, spread) decides the racks.
    placementGroup: LaunchPlacementGroup.optional(),
  })
  .openapi("RunInstances");

const ListQuery = z.strictObject({
  state: z
    .string()
    .max(128)
    .regex(/^[a-z-]+(,[a-z-]+)*$/, "must be states separated by commas")
    .transform((s) => s.split(","))
    .pipe(z.array(StateNames))
    .optional(),
  instanceType: InstanceTypeName.optional(),
  hostId: HostId.optional(),
  availabilityZone: Zone.optional(),
  tag: z
    .union([TagFilter, z.array(TagFilter).max(MAX_TAG_FILTERS)])
    .optional()
    .openapi({ description: "key=value, or key alone for any value; repeat for several" }),
  cursor: InstanceId.optional().openapi({ description: "the nextCursor of the previous page" }),
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
    async (c) => c.json(await runInstances(fleetOf(c), c.req.valid("json")), 201),
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
          content: { "application/json": { schema: InstancePage } },
        },
        ...problemResponses(400),
      },
    }),
    async (c) => {
      const q = c.req.valid("query");
      return c.json(await listInstances(fleetOf(c), { ...q, tags: parseTags(q.tag) }), 200);
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
    async (c) => c.json(await describeInstance(fleetOf(c), c.req.valid("param").id), 200),
  )
  .openapi(actionRoute("stop", "Stop: releases the host's resources"), async (c) =>
    c.json(await act(fleetOf(c), c.req.valid("param").id, "stop"), 200),
  )
  .openapi(actionRoute("start", "Start a stopped instance, possibly on another host"), async (c) =>
    c.json(await act(fleetOf(c), c.req.valid("param").id, "start"), 200),
  )
  .openapi(actionRoute("reboot", "Reboot a running instance in place"), async (c) =>
    c.json(await act(fleetOf(c), c.req.valid("param").id, "reboot"), 200),
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
    async (c) => c.json(await act(fleetOf(c), c.req.valid("param").id, "terminate"), 200),
  )
  .openapi(
    createRoute({
      method: "put",
      path: "/instances/{id}/workload",
      tags: ["cpu"],
      summary: "Set the workload profile the CPU model runs for this instance",
      request: {
        params: InstanceIdParam,
        body: {
          content: { "application/json": { schema: z.strictObject({ profile: Workload }) } },
          required: true,
        },
      },
      responses: {
        200: { description: "The instance", content: { "application/json": { schema: Instance } } },
        ...problemResponses(400, 404, 409),
      },
    }),
    async (c) =>
      c.json(await setWorkload(fleetOf(c), c.req.valid("param").id, c.req.valid("json").profile), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/instances/{id}/cpu",
      tags: ["cpu"],
      summary: "VM exits and entries by reason, hypercalls, cycles by where they went, steal, over a window",
      request: {
        params: InstanceIdParam,
        query: z.strictObject({ windowSeconds: z.coerce.number().int().min(1).max(3600).default(60) }),
      },
      responses: {
        200: { description: "The counters", content: { "application/json": { schema: CpuCounters } } },
        ...problemResponses(400, 404, 409),
      },
    }),
    async (c) =>
      c.json(await instanceCpu(fleetOf(c), c.req.valid("param").id, c.req.valid("query").windowSeconds), 200),
  );
