// Every kind of event as receivers get it (webhook bodies, the SSE stream, GET /v1/events/{id}):
// one envelope (id, type, version, simulated and wall time, account, resource) around data of
// the kind's own, each kind a named component with its version in the name.
import { z } from "@hono/zod-openapi";
import { ALARM_STATES } from "../../events/types";
import { INSTANCE_STATES } from "../../sim/lifecycle";
import { HOST_STATES } from "../../sim/records";
import { AccountId } from "./accounts";
import { EventId, HostId, Hypervisor, InstanceId, InstanceTypeName, Timestamp, Zone } from "./common";
import { AlarmId, MetricDimensions, MetricName, SubscriptionId, Url, words } from "./metrics-shared";

const envelope = <T extends string, R extends string, D extends z.ZodObject>(
  type: T,
  resource: R,
  id: z.ZodString,
  data: D,
) =>
  z.object({
    id: EventId,
    type: z.literal(type),
    version: z.literal(1),
    seq: z.number().int().openapi({ description: "the event log's order; the SSE stream's event id" }),
    time: Timestamp.openapi({ description: "simulated time of the event" }),
    wallTime: Timestamp.nullable().openapi({ description: "wall time the fleet logged it" }),
    accountId: AccountId.nullable(),
    resource: z.object({ type: z.literal(resource), id }),
    data,
  });

const InstanceState = z.enum(INSTANCE_STATES);
const instanceData = z.object({
  instanceId: InstanceId,
  instanceType: InstanceTypeName.nullable(),
  hostId: HostId.nullable(),
  availabilityZone: Zone.nullable(),
  previousState: InstanceState.nullable(),
  state: InstanceState,
  stateReason: words(256),
});
const HostState = z.enum(HOST_STATES);
const hostData = z.object({
  hostId: HostId,
  availabilityZone: Zone.nullable(),
  family: words(16).nullable(),
  hypervisor: Hypervisor.nullable(),
  previousState: HostState.nullable(),
  state: HostState,
});

export const InstanceStateChangedV1 = envelope(
  "instance.state-changed",
  "instance",
  InstanceId,
  instanceData,
).openapi("InstanceStateChangedV1");
export const InstanceRebootedV1 = envelope("instance.rebooted", "instance", InstanceId, instanceData).openapi(
  "InstanceRebootedV1",
);
export const InstanceUpdatedV1 = envelope("instance.updated", "instance", InstanceId, instanceData).openapi(
  "InstanceUpdatedV1",
);
export const HostCreatedV1 = envelope("host.created", "host", HostId, hostData).openapi("HostCreatedV1");
export const HostStateChangedV1 = envelope("host.state-changed", "host", HostId, hostData).openapi(
  "HostStateChangedV1",
);

const AlarmState = z.enum(ALARM_STATES);
export const AlarmStateChangedV1 = envelope(
  "alarm.state-changed",
  "alarm",
  AlarmId,
  z.object({
    alarmId: AlarmId,
    alarmName: words(255),
    metricName: MetricName,
    dimensions: MetricDimensions,
    previousState: AlarmState,
    state: AlarmState,
    reason: words(1024),
    threshold: z.number(),
    comparisonOperator: z.enum([
      "GreaterThanThreshold",
      "GreaterThanOrEqualToThreshold",
      "LessThanThreshold",
      "LessThanOrEqualToThreshold",
    ]),
  }),
).openapi("AlarmStateChangedV1");

export const SubscriptionDisabledV1 = envelope(
  "subscription.disabled",
  "subscription",
  SubscriptionId,
  z.object({
    subscriptionId: SubscriptionId,
    url: Url,
    reason: z.literal("failing"),
    failingSince: Timestamp,
  }),
).openapi("SubscriptionDisabledV1");

export const EventEnvelope = z
  .discriminatedUnion("type", [
    InstanceStateChangedV1,
    InstanceRebootedV1,
    InstanceUpdatedV1,
    HostCreatedV1,
    HostStateChangedV1,
    AlarmStateChangedV1,
    SubscriptionDisabledV1,
  ])
  .openapi("EventEnvelope");
