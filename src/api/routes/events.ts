import { createRoute, z } from "@hono/zod-openapi";
import { and, asc, eq, gt, type SQL } from "drizzle-orm";
import { events } from "../../db/schema";
import { Fleet } from "../../fleet/context";
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
  async (c) => {
    const q = c.req.valid("query");
    const where: SQL[] = [];
    if (q.instanceId) where.push(eq(events.instanceId, q.instanceId));
    if (q.hostId) where.push(eq(events.hostId, q.hostId));
    if (q.type) where.push(eq(events.type, q.type));
    if (q.cursor !== undefined) where.push(gt(events.seq, q.cursor));
    const rows = await new Fleet(c.env).db
      .select()
      .from(events)
      .where(and(...where))
      .orderBy(asc(events.seq))
      .limit(q.limit + 1);
    const page = rows.slice(0, q.limit);
    return c.json(
      {
        events: page.map(({ body: _b, time, ...e }) => ({ ...e, time: new Date(time).toISOString() })),
        nextCursor: rows.length > q.limit ? page[page.length - 1].seq : null,
      },
      200,
    );
  },
);
