import { createRoute, z } from "@hono/zod-openapi";
import {
  createPlacementGroup,
  deletePlacementGroup,
  describePlacementGroup,
  listPlacementGroups,
} from "../../fleet/placement-groups";
import { fleetOf } from "../auth";
import { router } from "../router";
import {
  CreatePlacementGroup,
  GroupStrategy,
  Limit,
  PlacementGroup,
  PlacementGroupId,
  PlacementGroupName,
  PlacementGroupPage,
  problemResponses,
} from "../schemas";

const NameParam = z.object({ name: PlacementGroupName.openapi({ param: { name: "name", in: "path" } }) });
const groupAnswer = (description: string) => ({
  200: { description, content: { "application/json": { schema: PlacementGroup } } },
});

export const placementGroupRoutes = router()
  .openapi(
    createRoute({
      method: "post",
      path: "/placement-groups",
      tags: ["instances"],
      summary:
        "Create a placement group: cluster (one rack), partition (racks per partition) or spread (a rack each)",
      request: {
        body: { content: { "application/json": { schema: CreatePlacementGroup } }, required: true },
      },
      responses: {
        201: { description: "The group", content: { "application/json": { schema: PlacementGroup } } },
        ...problemResponses(400),
      },
    }),
    async (c) => c.json(await createPlacementGroup(fleetOf(c), c.req.valid("json")), 201),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/placement-groups",
      tags: ["instances"],
      summary: "List placement groups",
      request: {
        query: z.strictObject({
          strategy: GroupStrategy.optional(),
          cursor: PlacementGroupId.optional(),
          limit: Limit,
        }),
      },
      responses: {
        200: {
          description: "A page of groups",
          content: { "application/json": { schema: PlacementGroupPage } },
        },
        ...problemResponses(400),
      },
    }),
    async (c) => c.json(await listPlacementGroups(fleetOf(c), c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/placement-groups/{name}",
      tags: ["instances"],
      summary: "One placement group, by name",
      request: { params: NameParam },
      responses: { ...groupAnswer("The group"), ...problemResponses(400, 404) },
    }),
    async (c) => c.json(await describePlacementGroup(fleetOf(c), c.req.valid("param").name), 200),
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/placement-groups/{name}",
      tags: ["instances"],
      summary: "Delete a placement group no instance is in any more",
      request: { params: NameParam },
      responses: { ...groupAnswer("The group as it was, deleted"), ...problemResponses(400, 404, 409) },
    }),
    async (c) => c.json(await deletePlacementGroup(fleetOf(c), c.req.valid("param").name), 200),
  );
