import { createRoute, z } from "@hono/zod-openapi";
import { describeEvacuation, evacuateHost } from "../../fleet/evacuations";
import { fleetOf } from "../auth";
import { router } from "../router";
import { EvacuateHost, Evacuation, EvacuationId, HostIdParam, problemResponses } from "../schemas";

export const evacuationRoutes = router()
  .openapi(
    createRoute({
      method: "post",
      path: "/hosts/{id}/evacuate",
      tags: ["migrations"],
      summary: "Put a host into maintenance and live-migrate every running instance off it (admin)",
      request: {
        params: HostIdParam,
        body: { content: { "application/json": { schema: EvacuateHost } }, required: true },
      },
      responses: {
        202: {
          description: "The evacuation, under way",
          content: { "application/json": { schema: Evacuation } },
        },
        ...problemResponses(400, 404, 409),
      },
    }),
    async (c) => c.json(await evacuateHost(fleetOf(c), c.req.valid("param").id, c.req.valid("json")), 202),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/evacuations/{id}",
      tags: ["migrations"],
      summary: "An evacuation's progress: its migrations and what stays (admin)",
      request: { params: z.object({ id: EvacuationId.openapi({ param: { name: "id", in: "path" } }) }) },
      responses: {
        200: { description: "The evacuation", content: { "application/json": { schema: Evacuation } } },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await describeEvacuation(fleetOf(c), c.req.valid("param").id), 200),
  );
