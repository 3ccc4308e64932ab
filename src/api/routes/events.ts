import { createRoute, z } from "@hono/zod-openapi";
import { listEvents } from "../../fleet/events";
import { fleetOf } from "../auth";
import { router } from "../router";
import { Limit, problemResponses } from "../schemas";

const Event = z
  .object({
    seq: z.number(),
    id: z.string(),
    type: z.string(),
    time: z.string(),
    hostId: z.string().nullable(),
    instanceId: z.string().nullable(),
    previousState: z.string().nullable(),
    state: z.string(),
  })
  .openapi("Event");

export const eventRoutes = router().openapi(
  createRoute({
    method: "get",
    path: "/events",
    tags: ["events"],
    summary: "Fleet events, oldest first, as stored by the queue consumer",
    request: {
      query: z.strictObject({
        instanceId: z.string().optional(),
        hostId: z.string().optional(),
        type: z.string().optional(),
        cursor: z.coerce.number().int().min(0).optional(),
        limit: Limit,
      }),
    },
    responses: {
      200: {
        description: "A page of events",
        content: {
          "application/json": {
            schema: z.object({ events: z.array(Event), nextCursor: z.number().nullable() }),
          },
        },
      },
      ...problemResponses(400),
    },
  }),
  async (c) => c.json(await listEvents(fleetOf(c), c.req.valid("query")), 200),
);
