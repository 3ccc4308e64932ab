// The records a host's model hands out: what the host object stores, the events queue
// carries and D1 mirrors. Plain data (and one function over it); the model that makes
// them is in host.ts.
import type { CapacitySummary, HostHardware } from "./admission";
import type { Family, HostHypervisor, InstanceType, VirtualizationType } from "./catalog";
import type { Optimizations, WorkloadSpec } from "./cpu";
import { type InstanceState, STATE_CODES } from "./lifecycle";
import type { StorageNodeRecord } from "./storage/replicas";

export const HOST_STATES = ["available", "maintenance", "failed", "retired"] as const;
export type HostState = (typeof HOST_STATES)[number];

export interface HostRecord {
  hostId: string;
  zone: string;
  rack: string;
  family: Family;
  hypervisor: HostHypervisor;
  hw: HostHardware;
  state: HostState;
  createdAt: number;
  /** The seed's optimization switches where they differ from the hypervisor's defaults. */
  optimizations?: Partial<Optimizations>;
}

/** Page sizes by the names the API uses for them. */
export type PageSizeName = "4K" | "2M" | "1G";

/** A launch's paging choices, as the API takes them. */
export interface PagingOptions {
  /** `direct` is a paravirtual guest's own; an HVM guest runs on `ept` or `shadow`. */
  mode?: "ept" | "shadow" | "direct";
  guestLevels?: 4 | 5;
  eptLevels?: 4 | 5;
  guestPageSize?: PageSizeName;
  eptPageSize?: PageSizeName;
  /** Tag TLB entries with the VM's VPID (default true). */
  vpid?: boolean;
  /** Tag TLB entries with the address space's PCID (default true). */
  pcid?: boolean;
  /**
   * @deprecated vpid and pcid together. Records stored before the two were separate carry it, and
   * clients may still send it, so it stays: it sets both, and may not contradict either.
   */
  tagged?: boolean;
  pageWalkCache?: { guest: number; nested: number };
}

/** The instance as the fleet sees it; every event about an instance carries its record (EventInstance). */
export interface InstanceRecord {
  instanceId: string;
  /**
   * The account that launched it, for life. Null only for a record made before accounts
   * existed: such an instance belongs to no tenant, and only the admin sees it.
   */
  accountId: string | null;
  reservationId: string;
  instanceType: string;
  family: Family;
  /** The hypervisor of the host it runs (or last ran) on. */
  hypervisor: HostHypervisor;
  /** HVM or paravirtual, chosen at launch where the type offers both; `hvm` on records made before. */
  virtualizationType: VirtualizationType;
  zone: string;
  hostId: string | null;
  state: InstanceState;
  stateCode: number;
  /** Bumped on every change; the D1 mirror applies a record only if it is newer. */
  version: number;
  launchTime: number;
  stateTransitionTime: number;
  stateReason: string;
  clientToken: string | null;
  tags: Record<string, string>;
  workload: WorkloadSpec;
  placementStrategy: string;
  /** How the guest pages and how the hypervisor backs it; empty means the host's defaults. */
  paging: PagingOptions;
  vcpus: number;
  memoryMiB: number;
  nvmeGB: number;
  threads: number[];
  terminatedAt: number | null;
  /** The placement group it was launched into (placement-groups.ts); absent when none. */
  placementGroup?: PlacementMembership | null;
}

/** An instance's place in a placement group, as EC2's Placement shows it. */
export interface PlacementMembership {
  groupId: string;
  groupName: string;
  /** Its partition, in a partition group; null in the others. */
  partitionNumber: number | null;
}

/**
 * An instance's record as an event carries it. Tags are set at launch and nothing changes
 * them afterwards, so only an instance's first event (previousState null) carries them;
 * the later ones leave them out. A tagged instance's record can be tens of kilobytes, and
 * every boot, stop and settle is an event in the outbox, on the queue and in D1's log.
 */
export type EventInstance = Omit<InstanceRecord, "tags"> & { tags?: Record<string, string> };

/** An instance's record without its tags, as its events after the first carry it. */
export function withoutTags(i: EventInstance): EventInstance {
  const { tags: _tags, ...rest } = i;
  return rest;
}

export interface VmRecord {
  instance: InstanceRecord;
  /** Simulated time at which the current transitional state settles. */
  transitionAt: number | null;
  /** Admission hold: capacity is reserved but the launch has not committed yet. */
  holdExpiresWallMs: number | null;
  /**
   * A live migration under way: `incoming`, the destination's hold for it; `outgoing`, the guest on
   * its source, which takes no lifecycle action until the migration ends. Absent on records before.
   */
  migration?: { id: string; role: "incoming" | "outgoing" } | null;
}

export interface HostUsage {
  /** Bumped on every change of the host; the D1 mirror keeps the newest. */
  version: number;
  state: HostState;
  capacity: CapacitySummary;
}

/** Every kind of fleet event; the queue consumer validates against this list. */
export const FLEET_EVENT_TYPES = [
  "instance.state-changed",
  "instance.rebooted",
  "instance.updated",
  "host.created",
  "host.state-changed",
  // Block storage (sim/storage): storage nodes, volumes and their copies, snapshots; shared file systems.
  "storage-node.created",
  "storage-node.state-changed",
  "volume.created",
  "volume.state-changed",
  "volume.attached",
  "volume.detached",
  "volume.replica-lost",
  "volume.replica-added",
  "snapshot.completed",
  "filesystem.created",
  "filesystem.state-changed",
  "instance.migrated",
  "migration.state-changed",
  "instance.event-scheduled",
  "instance.event-completed",
] as const;
export type FleetEventType = (typeof FLEET_EVENT_TYPES)[number];

export interface FleetEvent {
  id: string;
  type: FleetEventType;
  time: number;
  hostId: string | null;
  instanceId: string | null;
  previousState: string | null;
  state: string;
  instance: EventInstance | null;
  host: HostUsage | null;
  /** The host's static description, on host events only. */
  hostRecord: HostRecord | null;
  /** What a storage event is about (a volume, snapshot, storage node, file system); absent on the others. */
  subject?: EventSubject;
}

/** The resource of a storage, migration or scheduled-instance event: its kind, id and owner, and for a storage node its record. */
export interface EventSubject {
  kind: "volume" | "snapshot" | "storage-node" | "filesystem" | "migration" | "instance-event";
  id: string;
  /** The owning account; null for a storage node, which is the fleet's. */
  accountId: string | null;
  /** On storage-node events: the node's record, which the D1 mirror keeps by version. */
  storageNode?: StorageNodeRecord;
  /** What else the event says (a device, an instance, a node, a count), for the log. */
  detail?: Record<string, string | number | null>;
}

/** What a launch asks for beyond the type: who, where and how; the rest has a launch's defaults. */
export type InstanceOffer = Pick<InstanceRecord, "instanceId" | "accountId" | "reservationId"> &
  Partial<
    Pick<
      InstanceRecord,
      | "virtualizationType"
      | "zone"
      | "clientToken"
      | "tags"
      | "workload"
      | "placementStrategy"
      | "paging"
      | "placementGroup"
    >
  >;

/**
 * An instance as a launch offers it to a host: pending, on no host yet, sized by its type. Its
 * times are the host's to set when it admits it (launchTime is when pending begins).
 */
export function offeredInstance(type: InstanceType, o: InstanceOffer): InstanceRecord {
  return {
    instanceId: o.instanceId,
    accountId: o.accountId,
    reservationId: o.reservationId,
    instanceType: type.name,
    family: type.family,
    hypervisor: type.hypervisor,
    virtualizationType: o.virtualizationType ?? type.virtualizationTypes[0],
    zone: o.zone ?? "",
    hostId: null,
    state: "pending",
    stateCode: STATE_CODES.pending,
    version: 0,
    launchTime: 0,
    stateTransitionTime: 0,
    stateReason: "",
    clientToken: o.clientToken ?? null,
    tags: o.tags ?? {},
    workload: o.workload ?? "idle",
    placementStrategy: o.placementStrategy ?? "binpack",
    paging: o.paging ?? {},
    vcpus: type.vcpus,
    memoryMiB: type.memoryMiB,
    nvmeGB: type.instanceStorage.totalGB,
    threads: [],
    terminatedAt: null,
    ...(o.placementGroup ? { placementGroup: o.placementGroup } : {}),
  };
}
