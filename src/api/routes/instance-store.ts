import { createRoute, z } from "@hono/zod-openapi";
import { readLocalBlock, writeLocalBlock } from "../../fleet/instance-store";
import { fleetOf } from "../auth";
import { router } from "../router";
import { BlockData, InstanceId, InstanceStoreBlock, InstanceStoreWrite, problemResponses } from "../schemas";

const Params = z.object({
  id: InstanceId.openapi({ param: { name: "id", in: "path" } }),
  n: z.coerce
    .number()
    .int()
    .min(0)
    .openapi({ param: { name: "n", in: "path" }, description: "Block number" }),
});

export const instanceStoreRoutes = router()
  .openapi(
    createRoute({
      method: "put",
      path: "/instances/{id}/instance-store/blocks/{n}",
      tags: ["storage"],
      summary: "Write a 4 KiB block of a running instance's instance store (the d types' local NVMe)",
      request: {
        params: Params,
        body: {
          content: { "application/json": { schema: z.strictObject({ data: BlockData }) } },
          required: true,
        },
      },
      responses: {
        200: {
          description: "The block, written",
          content: { "application/json": { schema: InstanceStoreWrite } },
        },
        ...problemResponses(400, 404, 409),
      },
    }),
    async (c) => {
      const { id, n } = c.req.valid("param");
      return c.json(await writeLocalBlock(fleetOf(c), id, n, c.req.valid("json")), 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/instances/{id}/instance-store/blocks/{n}",
      tags: ["storage"],
      summary: "Read a 4 KiB block of a running instance's instance store; never written (or gone), zeros",
      request: { params: Params },
      responses: {
        200: { description: "The block", content: { "application/json": { schema: InstanceStoreBlock } } },
        ...problemResponses(400, 404, 409),
      },
    }),
    async (c) => {
      const { id, n } = c.req.valid("param");
      return c.json(await readLocalBlock(fleetOf(c), id, n), 200);
    },
  );
