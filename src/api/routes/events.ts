import { createRoute, z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import { eventsAfter, getEvent, lastSeq, listEvents } from "../../fleet/events";
import { EVENT_STREAM_BATCH, EVENT_STREAM_MAX_SECONDS, EVENT_STREAM_POLL_MS } from "../../fleet/limits";
import { fleetOf } from "../auth";
import { router } from "../router";
import {
  EventEnvelope,
  EventPage,
  EventType,
  HostId,
  InstanceId,
  Limit,
  problemResponses,
  Timestamp,
} from "../schemas";
import { EventId } from "../schemas/common";

const ResourceId = z
  .string()
  .max(32)
  .regex(/^(i|h|alarm|sub)-[0-9a-f]{17}$/, "must be an instance, host, alarm or subscription id")
  .openapi({ example: "i-0123456789abcdef0" });

const Seq = z.coerce.number().int().min(0);

export const eventRoutes = router()
  .openapi(
    createRoute({
      method: "get",
      path: "/events",
      tags: ["events"],
      summary: "Fleet events, oldest first, as stored by the queue consumer",
      request: {
        query: z.strictObject({
          instanceId: InstanceId.optional(),
          hostId: HostId.optional(),
          resourceId: ResourceId.optional(),
          type: EventType.optional(),
          startTime: Timestamp.optional().openapi({ description: "simulated time, inclusive" }),
          endTime: Timestamp.optional().openapi({ description: "simulated time, exclusive" }),
          cursor: Seq.optional().openapi({ description: "the nextCursor of the previous page" }),
          limit: Limit,
        }),
      },
      responses: {
        200: {
          description: "A page of events",
          content: { "application/json": { schema: EventPage } },
        },
        ...problemResponses(400),
      },
    }),
    async (c) => {
      const { startTime, endTime, ...q } = c.req.valid("query");
      return c.json(
        await listEvents(fleetOf(c), {
          ...q,
          startTime: startTime === undefined ? undefined : Date.parse(startTime),
          endTime: endTime === undefined ? undefined : Date.parse(endTime),
        }),
        200,
      );
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/events/stream",
      tags: ["events"],
      summary:
        "Server-Sent Events: each event as it is logged (id = its seq). Reconnect with Last-Event-ID (or lastEventId) to resume after the last one seen, missing none",
      request: {
        headers: z.object({
          "last-event-id": Seq.optional().openapi({ description: "the id of the last event received" }),
        }),
        query: z.strictObject({
          lastEventId: Seq.optional().openapi({
            description: "as Last-Event-ID, for clients that cannot set it",
          }),
          type: EventType.optional(),
          resourceId: ResourceId.optional(),
          maxSeconds: z.coerce
            .number()
            .int()
            .min(1)
            .max(EVENT_STREAM_MAX_SECONDS)
            .optional()
            .openapi({
              description: `how long the server keeps the stream open (default ${EVENT_STREAM_MAX_SECONDS})`,
            }),
        }),
      },
      responses: {
        200: {
          description: "A stream of events; each message's data is an EventEnvelope",
          content: { "text/event-stream": { schema: EventEnvelope } },
        },
        ...problemResponses(400),
      },
    }),
    async (c) => {
      const fleet = fleetOf(c);
      const q = c.req.valid("query");
      const header = c.req.valid("header")["last-event-id"];
      let after = header ?? q.lastEventId ?? (await lastSeq(fleet));
      const until = Date.now() + (q.maxSeconds ?? EVENT_STREAM_MAX_SECONDS) * 1000;
      return streamSSE(c, async (stream) => {
        let open = true;
        stream.onAbort(() => {
          open = false;
        });
        // Ask clients to come back at once when the server ends the stream.
        await stream.write("retry: 1000\n\n");
        while (open && Date.now() < until) {
          const batch = await eventsAfter(fleet, after, {
            type: q.type,
            resourceId: q.resourceId,
            limit: EVENT_STREAM_BATCH,
          });
          for (const e of batch) {
            await stream.writeSSE({ id: String(e.seq), event: e.type, data: JSON.stringify(e) });
            after = e.seq;
          }
          if (batch.length < EVENT_STREAM_BATCH) {
            await stream.write(": waiting\n\n");
            await stream.sleep(Math.min(EVENT_STREAM_POLL_MS, Math.max(0, until - Date.now())));
          }
        }
      });
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/events/{id}",
      tags: ["events"],
      summary: "One event as webhooks and the stream carry it",
      request: { params: z.object({ id: EventId.openapi({ param: { name: "id", in: "path" } }) }) },
      responses: {
        200: { description: "The event", content: { "application/json": { schema: EventEnvelope } } },
        ...problemResponses(400, 404),
      },
    }),
    // Checked against the documented envelope of its kind: a receiver's schema cannot drift from the log.
    async (c) => c.json(EventEnvelope.parse(await getEvent(fleetOf(c), c.req.valid("param").id)), 200),
  );
