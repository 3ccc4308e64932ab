// The fleet's own records as the API shows them: its event log, its clock, and the report of
// the repair path that compares D1 with the host objects.
import { z } from "@hono/zod-openapi";
import { ALARM_STATES, EVENT_TYPES } from "../../events/types";
import { MAX_RECONCILE_HOSTS } from "../../fleet/limits";
import { MISMATCHES_LISTED } from "../../fleet/reconcile";
import { STORAGE_MISMATCHES_LISTED } from "../../fleet/storage-reconcile";
import { VOLUME_STATES } from "../../fleet/volume-records";
import { INSTANCE_STATES } from "../../sim/lifecycle";
import { HOST_STATES } from "../../sim/records";
import { EventId, HostId, InstanceId, MAX_PAGE, oneOf, Timestamp, text } from "./common";
import { StorageNodeId, VolumeId } from "./storage";

export const EventType = z.enum(EVENT_TYPES);

/**
 * An instance's state on instance events, the host's on host events, an alarm's on alarm
 * events, a subscription's (enabled or disabled) on subscription events; on storage events,
 * the volume's, its health, the node's.
 */
const EventState = oneOf([
  ...new Set([
    ...INSTANCE_STATES,
    ...HOST_STATES,
    ...ALARM_STATES,
    "enabled",
    "disabled",
    ...VOLUME_STATES,
    "ok",
    "degraded",
    "lost",
    "completed",
    "pending",
  ]),
]);

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

export const StorageMismatch = z
  .object({
    nodeId: StorageNodeId,
    volumeId: VolumeId.nullable(),
    kind: z.enum(["node-missing", "node-stale-in-d1", "replica-missing", "orphan-replica"]),
    detail: text(256),
  })
  .openapi("StorageMismatch");

/** The block store's part of the report: storage node objects against D1, and their copies. */
export const StorageReconcile = z
  .object({
    nodesChecked: z.number(),
    replicasChecked: z.number(),
    agree: z.boolean(),
    mismatchCount: z.number(),
    mismatches: z.array(StorageMismatch).max(STORAGE_MISMATCHES_LISTED),
    repaired: z.number(),
  })
  .openapi("StorageReconcile");

/** Reconcile's request: the whole fleet at once, or (with hostLimit) a page of its hosts. */
export const ReconcileRequest = z
  .strictObject({
    repair: z.boolean().default(false),
    hostLimit: z.number().int().min(1).max(MAX_RECONCILE_HOSTS).optional().openapi({
      description: "compare only this many hosts, in order of id; the answer's nextHostId continues",
    }),
    afterHostId: HostId.optional().openapi({ description: "the previous page's nextHostId" }),
  })
  .openapi("ReconcileRequest");

export const ReconcileReport = z
  .object({
    nextHostId: HostId.nullable().openapi({
      description:
        "with hostLimit: the host to continue after (afterHostId) for the next page; null on the last",
    }),
    hostsChecked: z.number(),
    instancesChecked: z.number(),
    agree: z.boolean(),
    mismatchCount: z.number(),
    mismatches: z.array(Mismatch).max(MISMATCHES_LISTED),
    repaired: z.number(),
    outboxPending: z.number(),
    storage: StorageReconcile,
    migrationsOpen: z.number().openapi({ description: "live migrations not yet done" }),
    migrationsResumed: z
      .number()
      .openapi({ description: "of those, how many had the step their record is at sent again (repair)" }),
    scheduledEventsActing: z.number().openapi({ description: "scheduled events claimed and not yet ended" }),
    scheduledEventsReclaimed: z.number().openapi({
      description:
        "of those, how many had lost the step that ends them: ended as their migration did, or (past their lease) scheduled again",
    }),
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
