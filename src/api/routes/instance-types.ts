import { createRoute, z } from "@hono/zod-openapi";
import { FAMILIES, INSTANCE_TYPES, VIRTUALIZATION_TYPES } from "../../sim/catalog";
import { router } from "../router";
import { InstanceTypeList } from "../schemas";

const Query = z.strictObject({
  family: z.enum(FAMILIES).optional(),
  hypervisor: z.enum(["nitro", "xen"]).optional(),
  minVcpus: z.coerce.number().int().min(0).optional(),
  minMemoryMiB: z.coerce.number().int().min(0).optional(),
  instanceStorage: z.enum(["true", "false"]).optional(),
  virtualizationType: z.enum(VIRTUALIZATION_TYPES).optional().openapi({
    description: "types a launch may give this virtualization type (EC2's supported-virtualization-type)",
  }),
});

export const instanceTypes = router().openapi(
  createRoute({
    method: "get",
    path: "/instance-types",
    tags: ["instance types"],
    summary: "The instance-type catalog, filtered",
    request: { query: Query },
    responses: {
      200: {
        description: "Matching instance types",
        content: { "application/json": { schema: InstanceTypeList } },
      },
    },
  }),
  (c) => {
    const q = c.req.valid("query");
    const list = INSTANCE_TYPES.filter(
      (t) =>
        (!q.family || t.family === q.family) &&
        (!q.hypervisor || t.hypervisor === q.hypervisor) &&
        (q.minVcpus === undefined || t.vcpus >= q.minVcpus) &&
        (q.minMemoryMiB === undefined || t.memoryMiB >= q.minMemoryMiB) &&
        (!q.instanceStorage || t.instanceStorage.totalGB > 0 === (q.instanceStorage === "true")) &&
        (!q.virtualizationType || t.virtualizationTypes.includes(q.virtualizationType)),
    );
    return c.json(
      {
        instanceTypes: list.map((t) => ({
          ...t,
          instanceStorage: { ...t.instanceStorage },
          virtualizationTypes: [...t.virtualizationTypes],
        })),
      },
      200,
    );
  },
);
