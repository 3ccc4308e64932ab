// The fleet's own records as the API shows them: its event log, its clock, and the report of
// the repair path that compares D1 with the host objects.
import { z } from "@hono/zod-openapi";
import { ALARM_STATES, EVENT_TYPES } from "../../events/types";
import { MISMATCHES_LISTED } from "../../fleet/reconcile";
import { INSTANCE_STATES } from "../../sim/lifecycle";
import { HOST_STATES } from "../../sim/records";
import { EventId, HostId, InstanceId, MAX_PAGE, oneOf, Timestamp, text } from "./common";

export const EventType = z.enum(EVENT_TYPES);

/**
 * An instance's state on instance events, the host's on host events, an alarm's on alarm
 * events, a subscription's (enabled or disabled) on subscription events.
 */
const EventState = oneOf([...INSTANCE_STATES, ...HOST_STATES, ...ALARM_STATES, "enabled", "disabled"]);

export const Event = z
  .object({
    seq: z.number().int(),
    id: EventId,
    type: oneOf(EVENT_TYPES),
    time: Timestamp,
    /** When the fleet logged it (wall time); null on events logged before it kept one. */
    wallTime: Timestamp.nullable(),
    hostId: HostId.nullable(),
    instanceId: InstanceId.nullable(),
    /** The alarm or subscription an event about neither an instance nor a host concerns. */
    resourceId: text(32)
      .regex(/^(alarm|sub)-[0-9a-f]{17}$/)
      .nullable(),
    previousState: EventState.nullable(),
    state: EventState,
  })
  .openapi("Event");

export const EventPage = z
  .object({ events: z.array(Event).max(MAX_PAGE), nextCursor: z.number().int().nullable() })
  .openapi("EventPage");

export const Clock = z
  .object({ mode: z.enum(["manual", "scaled"]), scale: z.number(), now: Timestamp, nowMs: z.number() })
  .openapi("Clock");

/** The clock after a change, and what settling the hosts on it did. */
export const ClockChange = Clock.extend({ settledEvents: z.number(), hostsFailed: z.number() }).openapi(
  "ClockChange",
);

export const Mismatch = z
  .object({
    hostId: HostId,
    instanceId: InstanceId.nullable(),
    kind: z.enum([
      "missing-in-d1",
      "stale-in-d1",
      "host-usage",
      "not-on-host",
      "host-missing",
      "host-error",
      "boot-verdict",
    ]),
    detail: text(256),
  })
  .openapi("Mismatch");

export const ReconcileReport = z
  .object({
    hostsChecked: z.number(),
    instancesChecked: z.number(),
    agree: z.boolean(),
    mismatchCount: z.number(),
    mismatches: z.array(Mismatch).max(MISMATCHES_LISTED),
    repaired: z.number(),
    outboxPending: z.number(),
    network: z
      .object({
        interfacesChecked: z.number(),
        leaked: z.number(),
        released: z.number(),
        instancesWithoutInterface: z.number(),
      })
      .openapi("NetworkReconcile"),
  })
  .openapi("ReconcileReport");
