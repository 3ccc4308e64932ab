import { createRoute, z } from "@hono/zod-openapi";
import { inArray } from "drizzle-orm";
import { hosts, instances } from "../../db/schema";
import { advanceClock, clockView, configureClock } from "../../fleet/clock";
import { Fleet } from "../../fleet/context";
import { mirror } from "../../fleet/mirror";
import { reconcile } from "../../fleet/reconcile";
import type { ClockState } from "../../sim/clock";
import { router } from "../router";
import { Clock, ClockChange, MAX_MISMATCHES, problemResponses, ReconcileReport } from "../schemas";

const MAX_ADVANCE_S = 30 * 24 * 3600;

/**
 * Settles due transitions: on the hosts with an instance in a transitional state, or on
 * every host (when the clock's mode changed, so that each sets its alarms anew). A host that fails is
 * reported, not fatal: the clock has moved, and it settles on its next call.
 */
async function settleHosts(fleet: Fleet, clock: ClockState, onlyBusy: boolean) {
  const ids = onlyBusy
    ? (
        await fleet.db
          .selectDistinct({ hostId: instances.hostId })
          .from(instances)
          .where(inArray(instances.state, ["pending", "stopping", "shutting-down"]))
      )
        .map((b) => b.hostId)
        .filter((h): h is string => h !== null)
    : (await fleet.db.select({ id: hosts.id }).from(hosts)).map((h) => h.id);
  const results = await Promise.allSettled(ids.map((id) => fleet.host(id).settle(clock)));
  const evs = results.flatMap((r) => (r.status === "fulfilled" ? r.value.events : []));
  try {
    await mirror(fleet.db, evs);
  } catch (err) {
    // The hosts' outboxes deliver the same events; the clock change itself has happened.
    console.warn("mirroring settled events failed; the events queue will apply them", err);
  }
  return { settledEvents: evs.length, hostsFailed: results.filter((r) => r.status === "rejected").length };
}

export const adminRoutes = router()
  .openapi(
    createRoute({
      method: "get",
      path: "/clock",
      tags: ["clock"],
      summary: "The simulated clock",
      responses: { 200: { description: "The clock", content: { "application/json": { schema: Clock } } } },
    }),
    async (c) => c.json(clockView(await new Fleet(c.env).clock()), 200),
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
    async (c) => {
      const fleet = new Fleet(c.env);
      const clock = await advanceClock(fleet.db, c.env, Math.round(c.req.valid("json").seconds * 1000));
      return c.json({ ...clockView(clock), ...(await settleHosts(fleet, clock, true)) }, 200);
    },
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
    async (c) => {
      const fleet = new Fleet(c.env);
      const clock = await configureClock(fleet.db, c.env, c.req.valid("json"));
      // Every host learns the new clock now, so alarms follow the new mode at once.
      const settled = await settleHosts(fleet, clock, false);
      return c.json({ ...clockView(clock), ...settled }, 200);
    },
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/admin/reconcile",
      tags: ["admin"],
      summary: "Compare D1 with every host object; with repair, bring D1 in line",
      request: {
        body: {
          content: { "application/json": { schema: z.strictObject({ repair: z.boolean().default(false) }) } },
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
      const body = c.req.valid("json") as { repair?: boolean } | undefined;
      const report = await reconcile(new Fleet(c.env), body?.repair ?? false);
      // A fleet far out of line differs in more places than one answer should list.
      const { mismatches, ...rest } = report;
      return c.json(
        { ...rest, mismatchCount: mismatches.length, mismatches: mismatches.slice(0, MAX_MISMATCHES) },
        200,
      );
    },
  );
