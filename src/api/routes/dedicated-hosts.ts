import { createRoute, z } from "@hono/zod-openapi";
import {
  allocateHosts,
  describeDedicatedHost,
  listDedicatedHosts,
  releaseHosts,
} from "../../fleet/dedicated-hosts";
import { DEDICATED_HOSTS_PAGE_MAX, DEDICATED_HOSTS_PER_CALL_MAX } from "../../fleet/limits";
import { FAMILIES } from "../../sim/catalog";
import { fleetOf } from "../auth";
import { router } from "../router";
import {
  AllocatedHosts,
  AutoPlacement,
  ClientToken,
  DedicatedHost,
  DedicatedHostPage,
  HostId,
  InstanceTypeName,
  problemResponses,
  ReleasedHosts,
  Zone,
} from "../schemas";

const json = <S extends z.ZodType>(schema: S, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

const AllocateHosts = z
  .strictObject({
    availabilityZone: Zone,
    instanceFamily: z.enum(FAMILIES).optional(),
    instanceType: InstanceTypeName.optional(),
    quantity: z.number().int().min(1).max(DEDICATED_HOSTS_PER_CALL_MAX).default(1),
    autoPlacement: AutoPlacement.default("off"),
    clientToken: ClientToken.optional(),
  })
  .openapi("AllocateHosts", { example: { availabilityZone: "us-east-1a", instanceFamily: "m5" } });

export const dedicatedHostRoutes = router()
  .openapi(
    createRoute({
      method: "post",
      path: "/dedicated-hosts",
      tags: ["dedicated-hosts"],
      summary:
        "Allocate Dedicated Hosts (AllocateHosts): empty fleet hosts of a family in a zone, for this account's instances alone",
      request: { body: { content: { "application/json": { schema: AllocateHosts } }, required: true } },
      responses: {
        201: json(AllocatedHosts, "The hosts, now the account's"),
        ...problemResponses(400, 409, 503),
      },
    }),
    async (c) => c.json(await allocateHosts(fleetOf(c), c.req.valid("json")), 201),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/dedicated-hosts",
      tags: ["dedicated-hosts"],
      summary: "List the account's Dedicated Hosts (every account's, for the operator)",
      request: {
        query: z.strictObject({
          availabilityZone: Zone.optional(),
          instanceFamily: z.enum(FAMILIES).optional(),
          cursor: HostId.optional(),
          limit: z.coerce.number().int().min(1).max(DEDICATED_HOSTS_PAGE_MAX).default(100),
        }),
      },
      responses: { 200: json(DedicatedHostPage, "A page of Dedicated Hosts"), ...problemResponses(400) },
    }),
    async (c) => c.json(await listDedicatedHosts(fleetOf(c), c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/dedicated-hosts/{id}",
      tags: ["dedicated-hosts"],
      summary: "One Dedicated Host, with the account's instances on it",
      request: { params: z.object({ id: HostId.openapi({ param: { name: "id", in: "path" } }) }) },
      responses: { 200: json(DedicatedHost, "The Dedicated Host"), ...problemResponses(400, 404) },
    }),
    async (c) => c.json(await describeDedicatedHost(fleetOf(c), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/dedicated-hosts/release",
      tags: ["dedicated-hosts"],
      summary: "Release Dedicated Hosts (ReleaseHosts) that no longer have instances; each refusal says why",
      request: {
        body: {
          content: {
            "application/json": {
              schema: z
                .strictObject({ hostIds: z.array(HostId).min(1).max(DEDICATED_HOSTS_PER_CALL_MAX) })
                .openapi("ReleaseHosts", { example: { hostIds: ["h-0123456789abcdef0"] } }),
            },
          },
          required: true,
        },
      },
      responses: {
        200: json(ReleasedHosts, "What was released, and what was not"),
        ...problemResponses(400),
      },
    }),
    async (c) => c.json(await releaseHosts(fleetOf(c), c.req.valid("json").hostIds), 200),
  );
