import { createRoute, z } from "@hono/zod-openapi";
import { hostMemory } from "../../fleet/hosts";
import { instanceMemory, translateAddress } from "../../fleet/instance-telemetry";
import { fleetOf } from "../auth";
import { router } from "../router";
import {
  GuestAddress,
  HostIdParam,
  HostMemorySummary,
  InstanceIdParam,
  problemResponses,
  Translation,
  VmMemorySummary,
} from "../schemas";

const Translate = z
  .strictObject({
    address: GuestAddress,
    addressSpace: z
      .number()
      .int()
      .min(0)
      .max(4095)
      .default(1)
      .openapi({ description: "the guest process (its CR3 and PCID)" }),
    vcpu: z.number().int().min(0).max(191).default(0),
    write: z.boolean().default(false),
  })
  .openapi("TranslateRequest");

export const memoryRoutes = router()
  .openapi(
    createRoute({
      method: "post",
      path: "/instances/{id}/memory/translate",
      tags: ["memory"],
      summary: "Translate a guest-virtual address: GVA → GPA → HPA, walk by walk",
      request: {
        params: InstanceIdParam,
        body: { content: { "application/json": { schema: Translate } }, required: true },
      },
      responses: {
        200: { description: "The translation", content: { "application/json": { schema: Translation } } },
        ...problemResponses(400, 404, 409),
      },
    }),
    async (c) =>
      c.json(await translateAddress(fleetOf(c), c.req.valid("param").id, c.req.valid("json")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/instances/{id}/memory",
      tags: ["memory"],
      summary: "The VM's memory map: backed and touched bytes, huge-page share, TLB and fault counters",
      request: { params: InstanceIdParam },
      responses: {
        200: {
          description: "The summary",
          content: { "application/json": { schema: VmMemorySummary } },
        },
        ...problemResponses(400, 404, 409),
      },
    }),
    async (c) => c.json(await instanceMemory(fleetOf(c), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/hosts/{id}/memory",
      tags: ["memory"],
      summary: "Host frames by owner, fragmentation and free huge pages",
      request: { params: HostIdParam },
      responses: {
        200: {
          description: "The summary",
          content: { "application/json": { schema: HostMemorySummary } },
        },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await hostMemory(fleetOf(c), c.req.valid("param").id), 200),
  );
