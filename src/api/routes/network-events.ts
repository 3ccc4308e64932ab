import { createRoute, z } from "@hono/zod-openapi";
import { listNetworkEvents } from "../../fleet/network-events";
import { fleetOf } from "../auth";
import { router } from "../router";
import {
  InstanceId,
  InterfaceId,
  Limit,
  NetworkEventPage,
  NetworkEventType,
  problemResponses,
} from "../schemas";

export const networkEventRoutes = router().openapi(
  createRoute({
    method: "get",
    path: "/network-events",
    tags: ["network"],
    summary: "The network's events: interfaces attached at launch and released at termination, oldest first",
    request: {
      query: z.strictObject({
        instanceId: InstanceId.optional(),
        networkInterfaceId: InterfaceId.optional(),
        type: NetworkEventType.optional(),
        cursor: z.coerce
          .number()
          .int()
          .min(0)
          .optional()
          .openapi({ description: "the nextCursor of the previous page" }),
        limit: Limit,
      }),
    },
    responses: {
      200: { description: "A page of events", content: { "application/json": { schema: NetworkEventPage } } },
      ...problemResponses(400),
    },
  }),
  async (c) => c.json(await listNetworkEvents(fleetOf(c), c.req.valid("query")), 200),
);
