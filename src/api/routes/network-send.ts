import { createRoute } from "@hono/zod-openapi";
import { networkSend } from "../../fleet/network-send";
import { fleetOf } from "../auth";
import { router } from "../router";
import { InstanceIdParam, problemResponses, SendRequest, SendResult } from "../schemas";

export const networkSendRoutes = router().openapi(
  createRoute({
    method: "post",
    path: "/instances/{id}/network/send",
    tags: ["network"],
    summary:
      "Send bytes to an address or instance: the route, the security groups that decided, the path (vswitch or overlay) and what it achieves",
    request: {
      params: InstanceIdParam,
      body: { content: { "application/json": { schema: SendRequest } }, required: true },
    },
    responses: {
      200: {
        description: "Delivered, or dropped with the reason",
        content: { "application/json": { schema: SendResult } },
      },
      ...problemResponses(400, 404, 409),
    },
  }),
  async (c) => c.json(await networkSend(fleetOf(c), c.req.valid("param").id, c.req.valid("json")), 200),
);
