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

// Storage, migration and scheduled-instance events (their `subject`): the resource's states and what else the change names.
const storageData = z.object({
  resourceId: words(64),
  instanceId: InstanceId.nullable(),
  previousState: words(32).nullable(),
  state: words(32),
  device: words(32).optional(),
  nodeId: words(64).optional(),
  rack: words(64).optional(),
  copies: z.number().int().optional(),
  volumeId: words(64).optional(),
  blocksStored: z.number().int().optional(),
  hostId: HostId.optional(),
  code: words(32).optional(),
});
const storageEnvelope = <T extends string, R extends string>(type: T, resource: R, name: string) =>
  envelope(type, resource, words(64), storageData).openapi(name);
export const StorageNodeCreatedV1 = storageEnvelope(
  "storage-node.created",
  "storage-node",
  "StorageNodeCreatedV1",
);
export const StorageNodeStateChangedV1 = storageEnvelope(
  "storage-node.state-changed",
  "storage-node",
  "StorageNodeStateChangedV1",
);
export const VolumeCreatedV1 = storageEnvelope("volume.created", "volume", "VolumeCreatedV1");
export const VolumeStateChangedV1 = storageEnvelope("volume.state-changed", "volume", "VolumeStateChangedV1");
export const VolumeAttachedV1 = storageEnvelope("volume.attached", "volume", "VolumeAttachedV1");
export const VolumeDetachedV1 = storageEnvelope("volume.detached", "volume", "VolumeDetachedV1");
export const VolumeReplicaLostV1 = storageEnvelope("volume.replica-lost", "volume", "VolumeReplicaLostV1");
export const VolumeReplicaAddedV1 = storageEnvelope("volume.replica-added", "volume", "VolumeReplicaAddedV1");
export const SnapshotCompletedV1 = storageEnvelope("snapshot.completed", "snapshot", "SnapshotCompletedV1");
export const FileSystemCreatedV1 = storageEnvelope("filesystem.created", "filesystem", "FileSystemCreatedV1");
export const FileSystemStateChangedV1 = storageEnvelope(
  "filesystem.state-changed",
  "filesystem",
  "FileSystemStateChangedV1",
);
export const InstanceMigratedV1 = envelope("instance.migrated", "instance", InstanceId, instanceData).openapi(
  "InstanceMigratedV1",
);
export const MigrationStateChangedV1 = storageEnvelope(
  "migration.state-changed",
  "migration",
  "MigrationStateChangedV1",
);
export const InstanceEventScheduledV1 = storageEnvelope(
  "instance.event-scheduled",
  "instance-event",
  "InstanceEventScheduledV1",
);
export const InstanceEventCompletedV1 = storageEnvelope(
  "instance.event-completed",
  "instance-event",
  "InstanceEventCompletedV1",
);

export const EventEnvelope = z
  .discriminatedUnion("type", [
    InstanceStateChangedV1,
    InstanceRebootedV1,
    InstanceUpdatedV1,
    HostCreatedV1,
    HostStateChangedV1,
    StorageNodeCreatedV1,
    StorageNodeStateChangedV1,
    VolumeCreatedV1,
    VolumeStateChangedV1,
    VolumeAttachedV1,
    VolumeDetachedV1,
    VolumeReplicaLostV1,
    VolumeReplicaAddedV1,
    SnapshotCompletedV1,
    FileSystemCreatedV1,
    FileSystemStateChangedV1,
    InstanceMigratedV1,
    MigrationStateChangedV1,
    InstanceEventScheduledV1,
    InstanceEventCompletedV1,
    AlarmStateChangedV1,
    SubscriptionDisabledV1,
  ])
  .openapi("EventEnvelope");
