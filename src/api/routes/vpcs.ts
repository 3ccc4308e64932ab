import { createRoute, z } from "@hono/zod-openapi";
import { createVpc, describeVpc, listVpcs } from "../../fleet/vpcs";
import { fleetOf } from "../auth";
import { router } from "../router";
import { CreateVpc, Limit, problemResponses, Vpc, VpcId, VpcPage } from "../schemas";

const IdParam = z.object({ id: VpcId.openapi({ param: { name: "id", in: "path" } }) });

export const vpcRoutes = router()
  .openapi(
    createRoute({
      method: "post",
      path: "/vpcs",
      tags: ["network"],
      summary: "Create a VPC: a block and a segment id (VNI), with a default security group",
      request: { body: { content: { "application/json": { schema: CreateVpc } }, required: true } },
      responses: {
        201: { description: "The VPC", content: { "application/json": { schema: Vpc } } },
        ...problemResponses(400),
      },
    }),
    async (c) => c.json(await createVpc(fleetOf(c), c.req.valid("json")), 201),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/vpcs",
      tags: ["network"],
      summary: "List VPCs",
      request: { query: z.strictObject({ cursor: VpcId.optional(), limit: Limit }) },
      responses: {
        200: { description: "A page of VPCs", content: { "application/json": { schema: VpcPage } } },
        ...problemResponses(400),
      },
    }),
    async (c) => c.json(await listVpcs(fleetOf(c), c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/vpcs/{id}",
      tags: ["network"],
      summary: "One VPC",
      request: { params: IdParam },
      responses: {
        200: { description: "The VPC", content: { "application/json": { schema: Vpc } } },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await describeVpc(fleetOf(c), c.req.valid("param").id), 200),
  );
