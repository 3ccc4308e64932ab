import { createRoute, z } from "@hono/zod-openapi";
import { createSubnet, describeSubnet, listSubnets } from "../../fleet/subnets";
import { fleetOf } from "../auth";
import { router } from "../router";
import { CreateSubnet, Limit, problemResponses, Subnet, SubnetId, SubnetPage, VpcId } from "../schemas";

export const subnetRoutes = router()
  .openapi(
    createRoute({
      method: "post",
      path: "/subnets",
      tags: ["network"],
      summary: "Create a subnet of a VPC in one zone",
      request: { body: { content: { "application/json": { schema: CreateSubnet } }, required: true } },
      responses: {
        201: { description: "The subnet", content: { "application/json": { schema: Subnet } } },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await createSubnet(fleetOf(c), c.req.valid("json")), 201),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/subnets",
      tags: ["network"],
      summary: "List subnets",
      request: {
        query: z.strictObject({ vpcId: VpcId.optional(), cursor: SubnetId.optional(), limit: Limit }),
      },
      responses: {
        200: { description: "A page of subnets", content: { "application/json": { schema: SubnetPage } } },
        ...problemResponses(400),
      },
    }),
    async (c) => c.json(await listSubnets(fleetOf(c), c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/subnets/{id}",
      tags: ["network"],
      summary: "One subnet, with the addresses it has free",
      request: { params: z.object({ id: SubnetId.openapi({ param: { name: "id", in: "path" } }) }) },
      responses: {
        200: { description: "The subnet", content: { "application/json": { schema: Subnet } } },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await describeSubnet(fleetOf(c), c.req.valid("param").id), 200),
  );
