import { createRoute, z } from "@hono/zod-openapi";
import { FAMILIES, INSTANCE_TYPES } from "../../sim/catalog";
import { router } from "../router";

const InstanceType = z
  .object({
    name: z.string(),
    family: z.enum(FAMILIES),
    size: z.string(),
    hypervisor: z.enum(["nitro", "xen"]),
    vcpus: z.number(),
    memoryMiB: z.number(),
    networkGbps: z.number(),
    networkBurstGbps: z.number(),
    networkPerformance: z.string(),
    ebsBaselineMbps: z.number(),
    ebsBurstMbps: z.number(),
    ebsBaselineIops: z.number(),
    instanceStorage: z.object({
      disks: z.number(),
      diskGB: z.number(),
      totalGB: z.number(),
      nvme: z.boolean(),
    }),
  })
  .openapi("InstanceType");

const Query = z.strictObject({
  family: z.enum(FAMILIES).optional(),
  hypervisor: z.enum(["nitro", "xen"]).optional(),
  minVcpus: z.coerce.number().int().min(0).optional(),
  minMemoryMiB: z.coerce.number().int().min(0).optional(),
  instanceStorage: z.enum(["true", "false"]).optional(),
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
        content: { "application/json": { schema: z.object({ instanceTypes: z.array(InstanceType) }) } },
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
        (!q.instanceStorage || t.instanceStorage.nvme === (q.instanceStorage === "true")),
    );
    return c.json(
      { instanceTypes: list.map((t) => ({ ...t, instanceStorage: { ...t.instanceStorage } })) },
      200,
    );
  },
);
