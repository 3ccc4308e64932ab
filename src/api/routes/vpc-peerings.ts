import { createRoute, z } from "@hono/zod-openapi";
import { createPeering, deletePeering, listPeerings } from "../../fleet/vpc-peerings";
import { fleetOf } from "../auth";
import { router } from "../router";
import { CreatePeering, Limit, PeeringId, problemResponses, VpcPeering, VpcPeeringPage } from "../schemas";

export const vpcPeeringRoutes = router()
  .openapi(
    createRoute({
      method: "post",
      path: "/vpc-peering-connections",
      tags: ["network"],
      summary: "Peer two of the account's VPCs (blocks must not overlap); active at once",
      request: { body: { content: { "application/json": { schema: CreatePeering } }, required: true } },
      responses: {
        201: { description: "The peering", content: { "application/json": { schema: VpcPeering } } },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await createPeering(fleetOf(c), c.req.valid("json")), 201),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/vpc-peering-connections",
      tags: ["network"],
      summary: "List peerings",
      request: { query: z.strictObject({ cursor: PeeringId.optional(), limit: Limit }) },
      responses: {
        200: {
          description: "A page of peerings",
          content: { "application/json": { schema: VpcPeeringPage } },
        },
        ...problemResponses(400),
      },
    }),
    async (c) => c.json(await listPeerings(fleetOf(c), c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/vpc-peering-connections/{id}",
      tags: ["network"],
      summary: "Remove a peering: its VPCs no longer reach each other",
      request: { params: z.object({ id: PeeringId.openapi({ param: { name: "id", in: "path" } }) }) },
      responses: {
        200: { description: "The peering, deleted", content: { "application/json": { schema: VpcPeering } } },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await deletePeering(fleetOf(c), c.req.valid("param").id), 200),
  );
