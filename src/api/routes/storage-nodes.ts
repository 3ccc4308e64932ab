import { createRoute, z } from "@hono/zod-openapi";
import { STORAGE_PAGE_MAX } from "../../fleet/limits";
import {
  createStorageNode,
  describeStorageNode,
  listStorageNodes,
  setStorageNodeState,
} from "../../fleet/storage-nodes";
import { NODE_STATES } from "../../sim/storage/replicas";
import { fleetOf } from "../auth";
import { router } from "../router";
import {
  problemResponses,
  Rack,
  StorageNode,
  StorageNodeChange,
  StorageNodeId,
  StorageNodePage,
  Zone,
} from "../schemas";

const NodeParam = z.object({ id: StorageNodeId.openapi({ param: { name: "id", in: "path" } }) });

export const storageNodeRoutes = router()
  .openapi(
    createRoute({
      method: "post",
      path: "/storage-nodes",
      tags: ["storage"],
      summary: "Add a storage node to a zone's block store, in a rack",
      request: {
        body: {
          content: { "application/json": { schema: z.strictObject({ availabilityZone: Zone, rack: Rack }) } },
          required: true,
        },
      },
      responses: {
        201: { description: "The node", content: { "application/json": { schema: StorageNode } } },
        ...problemResponses(400),
      },
    }),
    async (c) => c.json(await createStorageNode(fleetOf(c), c.req.valid("json")), 201),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/storage-nodes",
      tags: ["storage"],
      summary: "List storage nodes",
      request: {
        query: z.strictObject({
          availabilityZone: Zone.optional(),
          cursor: StorageNodeId.optional(),
          limit: z.coerce.number().int().min(1).max(STORAGE_PAGE_MAX).default(50),
        }),
      },
      responses: {
        200: { description: "A page of nodes", content: { "application/json": { schema: StorageNodePage } } },
        ...problemResponses(400),
      },
    }),
    async (c) => c.json(await listStorageNodes(fleetOf(c), c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/storage-nodes/{id}",
      tags: ["storage"],
      summary: "One storage node as its object has it, with how many copies it holds",
      request: { params: NodeParam },
      responses: {
        200: { description: "The node", content: { "application/json": { schema: StorageNode } } },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await describeStorageNode(fleetOf(c), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "put",
      path: "/storage-nodes/{id}/state",
      tags: ["storage"],
      summary:
        "Fail a storage node (its volumes go degraded and re-replicate) or heal it (it comes back empty)",
      request: {
        params: NodeParam,
        body: {
          content: { "application/json": { schema: z.strictObject({ state: z.enum(NODE_STATES) }) } },
          required: true,
        },
      },
      responses: {
        200: { description: "The node", content: { "application/json": { schema: StorageNodeChange } } },
        ...problemResponses(400, 404),
      },
    }),
    async (c) =>
      c.json(await setStorageNodeState(fleetOf(c), c.req.valid("param").id, c.req.valid("json").state), 200),
  );
