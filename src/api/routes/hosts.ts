import { createRoute, z } from "@hono/zod-openapi";
import { createHost, createHosts, describeHost, listHosts, recommend, setHostState } from "../../fleet/hosts";
import { MAX_HOSTS_PER_REQUEST } from "../../fleet/limits";
import { FAMILIES } from "../../sim/catalog";
import { PROFILE_NAMES } from "../../sim/cpu";
import { HOST_STATES } from "../../sim/records";
import { fleetOf } from "../auth";
import { router } from "../router";
import {
  HOST_LIMITS,
  Host,
  HostBatch,
  HostDetail,
  HostId,
  HostIdParam,
  HostPage,
  Hypervisor,
  Limit,
  OptimizationOverrides,
  problemResponses,
  Rack,
  Recommendation,
  Zone,
} from "../schemas";

const CreateHost = z
  .strictObject({
    availabilityZone: Zone,
    family: z.enum(FAMILIES),
    rack: Rack.optional().openapi({ description: "the zone's name and -rack-1 when absent" }),
    sockets: z.number().int().min(1).max(HOST_LIMITS.sockets).optional(),
    coresPerSocket: z.number().int().min(1).max(HOST_LIMITS.coresPerSocket).optional(),
    threadsPerCore: z.number().int().min(1).max(HOST_LIMITS.threadsPerCore).optional(),
    memoryMiB: z
      .number()
      .int()
      .min(1024)
      .max(16 * 1024 * 1024)
      .optional(),
    state: z.enum(HOST_STATES).optional(),
    optimizations: OptimizationOverrides.optional(),
    hypervisor: z
      .literal("type2")
      .optional()
      .openapi({ description: "run the family's sizes on a hosted (Type 2) hypervisor, for teaching" }),
  })
  .openapi("CreateHost");

const CreateHosts = CreateHost.extend({
  count: z
    .number()
    .int()
    .min(1)
    .max(MAX_HOSTS_PER_REQUEST)
    .openapi({ description: "how many hosts of this shape to add" }),
}).openapi("CreateHosts");

export const hostRoutes = router()
  .openapi(
    createRoute({
      method: "post",
      path: "/hosts/bulk",
      tags: ["hosts"],
      summary: "Add many physical hosts of one shape in one request (admin)",
      request: { body: { content: { "application/json": { schema: CreateHosts } }, required: true } },
      responses: {
        201: { description: "The new hosts", content: { "application/json": { schema: HostBatch } } },
        ...problemResponses(400, 413, 500),
      },
    }),
    async (c) => c.json(await createHosts(fleetOf(c), c.req.valid("json")), 201),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/hosts",
      tags: ["hosts"],
      summary: "Add a physical host to the fleet (admin)",
      request: { body: { content: { "application/json": { schema: CreateHost } }, required: true } },
      responses: {
        201: { description: "The new host", content: { "application/json": { schema: Host } } },
        ...problemResponses(400, 413),
      },
    }),
    async (c) => c.json(await createHost(fleetOf(c), c.req.valid("json")), 201),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/hosts",
      tags: ["hosts"],
      summary: "List hosts with their capacity and use",
      request: {
        query: z.strictObject({
          availabilityZone: Zone.optional(),
          family: z.enum(FAMILIES).optional(),
          hypervisor: Hypervisor.optional(),
          state: z.enum(HOST_STATES).optional(),
          cursor: HostId.optional().openapi({ description: "the nextCursor of the previous page" }),
          limit: Limit,
        }),
      },
      responses: {
        200: {
          description: "A page of hosts",
          content: { "application/json": { schema: HostPage } },
        },
        ...problemResponses(400),
      },
    }),
    async (c) => c.json(await listHosts(fleetOf(c), c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/hosts/{id}",
      tags: ["hosts"],
      summary: "One host, read from its Durable Object, with the instances it holds",
      request: { params: HostIdParam },
      responses: {
        200: { description: "The host", content: { "application/json": { schema: HostDetail } } },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await describeHost(fleetOf(c), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "put",
      path: "/hosts/{id}/state",
      tags: ["hosts"],
      summary: "Set a host's state (admin): only available hosts take new instances",
      request: {
        params: HostIdParam,
        body: {
          content: { "application/json": { schema: z.strictObject({ state: z.enum(HOST_STATES) }) } },
          required: true,
        },
      },
      responses: {
        200: { description: "The host", content: { "application/json": { schema: Host } } },
        ...problemResponses(400, 404),
      },
    }),
    async (c) =>
      c.json(await setHostState(fleetOf(c), c.req.valid("param").id, c.req.valid("json").state), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/recommendations",
      tags: ["cpu"],
      summary:
        "Which optimizations (large pages, CPU affinity, SR-IOV, ballooning, PV drivers) pay for a workload",
      request: {
        query: z.strictObject({
          hypervisor: Hypervisor,
          workload: z.enum(PROFILE_NAMES),
          memoryOvercommit: z.coerce.number().min(1).max(4).default(1),
        }),
      },
      responses: {
        200: {
          description: "The recommended switches and each one's measured effect",
          content: { "application/json": { schema: Recommendation } },
        },
        ...problemResponses(400),
      },
    }),
    (c) => {
      const q = c.req.valid("query");
      return c.json(recommend(q.hypervisor, q.workload, q.memoryOvercommit), 200);
    },
  );
