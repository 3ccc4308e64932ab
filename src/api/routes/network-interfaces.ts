import { createRoute, z } from "@hono/zod-openapi";
import { describeInterface, listInterfaces } from "../../fleet/enis";
import { fleetOf } from "../auth";
import { router } from "../router";
import {
  InstanceId,
  InterfaceId,
  Limit,
  NetworkInterface,
  NetworkInterfacePage,
  problemResponses,
  SubnetId,
  VpcId,
} from "../schemas";

export const networkInterfaceRoutes = router()
  .openapi(
    createRoute({
      method: "get",
      path: "/network-interfaces",
      tags: ["network"],
      summary: "List network interfaces: each instance's MAC, private address, subnet and groups",
      request: {
        query: z.strictObject({
          instanceId: InstanceId.optional(),
          subnetId: SubnetId.optional(),
          vpcId: VpcId.optional(),
          cursor: InterfaceId.optional(),
          limit: Limit,
        }),
      },
      responses: {
        200: {
          description: "A page of interfaces",
          content: { "application/json": { schema: NetworkInterfacePage } },
        },
        ...problemResponses(400),
      },
    }),
    async (c) => c.json(await listInterfaces(fleetOf(c), c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/network-interfaces/{id}",
      tags: ["network"],
      summary: "One network interface",
      request: { params: z.object({ id: InterfaceId.openapi({ param: { name: "id", in: "path" } }) }) },
      responses: {
        200: { description: "The interface", content: { "application/json": { schema: NetworkInterface } } },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await describeInterface(fleetOf(c), c.req.valid("param").id), 200),
  );
