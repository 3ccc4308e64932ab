import { createRoute, z } from "@hono/zod-openapi";
import { clockView } from "../../fleet/clock";
import { advanceTime, changeClock } from "../../fleet/clock-changes";
import { invalidParameter } from "../../fleet/errors";
import { reconcile } from "../../fleet/reconcile";
import { fleetOf } from "../auth";
import { router } from "../router";
import { Clock, ClockChange, problemResponses, ReconcileReport, ReconcileRequest } from "../schemas";

const MAX_ADVANCE_S = 30 * 24 * 3600;

export const adminRoutes = router()
  .openapi(
    createRoute({
      method: "get",
      path: "/clock",
      tags: ["clock"],
      summary: "The simulated clock",
      responses: { 200: { description: "The clock", content: { "application/json": { schema: Clock } } } },
    }),
    async (c) => c.json(clockView(await fleetOf(c).clock()), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/admin/clock/advance",
      tags: ["clock"],
      summary: "Move simulated time forward and settle every transition that falls due",
      request: {
        body: {
          content: {
            "application/json": {
              schema: z.strictObject({ seconds: z.number().positive().max(MAX_ADVANCE_S) }),
            },
          },
          required: true,
        },
      },
      responses: {
        200: {
          description: "The clock after the advance",
          content: {
            "application/json": { schema: ClockChange },
          },
        },
        ...problemResponses(400),
      },
    }),
    async (c) => c.json(await advanceTime(fleetOf(c), Math.round(c.req.valid("json").seconds * 1000)), 200),
  )
  .openapi(
    createRoute({
      method: "put",
      path: "/admin/clock",
      tags: ["clock"],
      summary: "Switch the clock between manual and scaled, or change the scale",
      request: {
        body: {
          content: {
            "application/json": {
              schema: z.strictObject({
                mode: z.enum(["manual", "scaled"]).optional(),
                scale: z.number().min(0.001).max(10_000).optional(),
              }),
            },
          },
          required: true,
        },
      },
      responses: {
        200: {
          description: "The clock",
          content: {
            "application/json": { schema: ClockChange },
          },
        },
        ...problemResponses(400),
      },
    }),
    async (c) => c.json(await changeClock(fleetOf(c), c.req.valid("json")), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/admin/reconcile",
      tags: ["admin"],
      summary: "Compare D1 with every host object; with repair, bring D1 in line",
      request: {
        body: {
          content: { "application/json": { schema: ReconcileRequest } },
          required: false,
        },
      },
      responses: {
        200: {
          description: "What was compared and what differed",
          content: {
            "application/json": { schema: ReconcileReport },
          },
        },
        ...problemResponses(400),
      },
    }),
    async (c) => {
      const body = c.req.valid("json") as z.infer<typeof ReconcileRequest> | undefined;
      const page =
        body?.hostLimit === undefined ? undefined : { limit: body.hostLimit, afterHostId: body.afterHostId };
      if (body?.afterHostId !== undefined && page === undefined) {
        throw invalidParameter("body.afterHostId", "continues a walk of pages: give hostLimit with it");
      }
      return c.json(await reconcile(fleetOf(c), body?.repair ?? false, page), 200);
    },
  );
