import { createRoute, z } from "@hono/zod-openapi";
import { hostMemory } from "../../fleet/hosts";
import { instanceMemory, translateAddress } from "../../fleet/instance-telemetry";
import { fleetOf } from "../auth";
import { router } from "../router";
import { HostIdParam, InstanceIdParam, problemResponses } from "../schemas";

const loose = z.record(z.string(), z.unknown());

const Translate = z
  .strictObject({
    address: z
      .string()
      .min(1)
      .max(40)
      .openapi({ example: "0x7f0000401000", description: "guest-virtual, hex or decimal" }),
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

const TranslateResult = z
  .object({
    instanceId: z.string(),
    hostId: z.string(),
    address: z.string(),
    addressSpace: z.number(),
    hpa: z.string().nullable(),
    gpa: z.string().nullable(),
    pageSize: z.number().nullable(),
    tlbHit: z.boolean(),
    fault: z.string().nullable().openapi({ description: "what the first attempt ran into, if anything" }),
    faultsHandled: loose.nullable(),
    firstAttempt: loose.openapi({ description: "the walk step by step, every memory reference numbered" }),
    retried: loose.nullable(),
  })
  .openapi("Translation");

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
        200: { description: "The translation", content: { "application/json": { schema: TranslateResult } } },
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
          content: { "application/json": { schema: loose.openapi("VmMemorySummary") } },
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
          content: { "application/json": { schema: loose.openapi("HostMemorySummary") } },
        },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await hostMemory(fleetOf(c), c.req.valid("param").id), 200),
  );
