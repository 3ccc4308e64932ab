import { createRoute } from "@hono/zod-openapi";
import { instanceStatus, scheduleEvent } from "../../fleet/scheduled-events";
import { fleetOf } from "../auth";
import { router } from "../router";
import { InstanceIdParam, InstanceStatus, problemResponses, ScheduledEvent, ScheduleEvent } from "../schemas";

export const scheduledEventRoutes = router()
  .openapi(
    createRoute({
      method: "post",
      path: "/instances/{id}/scheduled-events",
      tags: ["migrations"],
      summary: "Schedule an event on an instance, as EC2 does for retirements and maintenance (admin)",
      request: {
        params: InstanceIdParam,
        body: { content: { "application/json": { schema: ScheduleEvent } }, required: true },
      },
      responses: {
        201: { description: "The event", content: { "application/json": { schema: ScheduledEvent } } },
        ...problemResponses(400, 404, 409),
      },
    }),
    async (c) => c.json(await scheduleEvent(fleetOf(c), c.req.valid("param").id, c.req.valid("json")), 201),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/instances/{id}/status",
      tags: ["instances"],
      summary: "The instance's state and its scheduled events (EC2's DescribeInstanceStatus)",
      request: { params: InstanceIdParam },
      responses: {
        200: { description: "The status", content: { "application/json": { schema: InstanceStatus } } },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await instanceStatus(fleetOf(c), c.req.valid("param").id), 200),
  );
