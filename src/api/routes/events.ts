import { createRoute, z } from "@hono/zod-openapi";
import { listEvents } from "../../fleet/events";
import { fleetOf } from "../auth";
import { router } from "../router";
import { EventPage, EventType, HostId, InstanceId, Limit, problemResponses } from "../schemas";

export const eventRoutes = router().openapi(
  createRoute({
    method: "get",
    path: "/events",
    tags: ["events"],
    summary: "Fleet events, oldest first, as stored by the queue consumer",
    request: {
      query: z.strictObject({
        instanceId: InstanceId.optional(),
        hostId: HostId.optional(),
        type: EventType.optional(),
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
      200: {
        description: "A page of events",
        content: { "application/json": { schema: EventPage } },
      },
      ...problemResponses(400),
    },
  }),
  async (c) => c.json(await listEvents(fleetOf(c), c.req.valid("query")), 200),
);
