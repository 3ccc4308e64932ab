// Each response schema against what its service really returns: the same fields at every
// depth, so an answer cannot carry a field the document leaves out, nor the document promise
// one the answer lacks. (The route handlers' typing checks the values in the other direction.)
import type { createAccessKey, listAccessKeys, revokeAccessKey } from "../../fleet/access-keys";
import type { addKey, createAccount, listKeys, revokeKey } from "../../fleet/accounts";
import type { createAlarm, getAlarm, listAlarms } from "../../fleet/alarms";
import type { clockView } from "../../fleet/clock";
import type {
  allocateHosts,
  describeDedicatedHost,
  listDedicatedHosts,
  releaseHosts,
} from "../../fleet/dedicated-hosts";
import type { describeInterface, listInterfaces } from "../../fleet/enis";
import type { listEvents } from "../../fleet/events";
import type {
  closeHandle,
  createFileSystem,
  createMountTarget,
  deleteFile,
  listFileSystems,
  listFiles,
  openFile,
  readHandle,
  writeHandle,
} from "../../fleet/filesystems";
import type {
  createHosts,
  describeHost,
  hostMemory,
  listHosts,
  recommend,
  setHostState,
} from "../../fleet/hosts";
import type { act } from "../../fleet/instance-actions";
import type { describeInstance, listInstances } from "../../fleet/instance-queries";
import type { readLocalBlock, writeLocalBlock } from "../../fleet/instance-store";
import type { instanceCpu, instanceMemory, translateAddress } from "../../fleet/instance-telemetry";
import type { setWorkload } from "../../fleet/instance-workload";
import type { runInstances } from "../../fleet/launch";
import type { listMetrics, metricStatistics } from "../../fleet/metrics";
import type { listNetworkEvents } from "../../fleet/network-events";
import type { networkSend } from "../../fleet/network-send";
import type { reconcile } from "../../fleet/reconcile";
import type {
  addRules,
  createSecurityGroup,
  describeSecurityGroup,
  listSecurityGroups,
  removeRule,
} from "../../fleet/security-groups";
import type { createSnapshot, describeSnapshot, listSnapshots } from "../../fleet/snapshots";
import type { describeStorageNode, listStorageNodes, setStorageNodeState } from "../../fleet/storage-nodes";
import type { createSubnet, describeSubnet, listSubnets } from "../../fleet/subnets";
import type {
  createSubscription,
  getSubscription,
  listSubscriptions,
  rotateSecret,
  updateSubscription,
} from "../../fleet/subscriptions";
import type { listDeliveries, redeliver } from "../../fleet/subscriptions-deliveries";
import type { attachVolume, detachVolume } from "../../fleet/volume-attachments";
import type { readBlock, writeBlock } from "../../fleet/volume-blocks";
import type { runVolumeLoad, volumeIoCounters } from "../../fleet/volume-load";
import type { createVolume, deleteVolume, describeVolume, listVolumes } from "../../fleet/volumes";
import type { createPeering, deletePeering, listPeerings } from "../../fleet/vpc-peerings";
import type { createVpc, describeVpc, listVpcs } from "../../fleet/vpcs";
import type { AccessKey, AccessKeyList, NewAccessKey } from "./access-keys";
import type { ApiKey, KeyList, NewAccount, NewApiKey } from "./accounts";
import type { Clock, EventPage, ReconcileReport } from "./admin";
import type { CpuCounters, Recommendation } from "./cpu";
import type { AllocatedHosts, DedicatedHost, DedicatedHostPage, ReleasedHosts } from "./dedicated-hosts";
import type { Assert, Documents } from "./exact";
import type { Host, HostBatch, HostDetail, HostPage } from "./hosts";
import type { Instance, InstancePage, Reservation, StateChange } from "./instances";
import type { HostMemorySummary, Translation, VmMemorySummary } from "./memory";
import type { Alarm, AlarmPage, MetricPage, MetricStatistics } from "./metrics";
import type {
  NetworkEventPage,
  NetworkInterface,
  NetworkInterfacePage,
  SecurityGroup,
  SecurityGroupPage,
  SendResult,
  Subnet,
  SubnetPage,
  Vpc,
  VpcPage,
  VpcPeering,
  VpcPeeringPage,
} from "./network";
import type {
  BlockRead,
  BlockWrite,
  DeletedVolume,
  FileClosed,
  FileContent,
  FileDeleted,
  FileHandle,
  FileList,
  FileSystem,
  FileSystemPage,
  InstanceStoreBlock,
  InstanceStoreWrite,
  MountTarget,
  Snapshot,
  SnapshotPage,
  StorageNode,
  StorageNodeChange,
  StorageNodePage,
  Volume,
  VolumeIoCounters,
  VolumeLoad,
  VolumePage,
} from "./storage";
import type {
  Delivery,
  DeliveryPage,
  NewSubscription,
  Subscription,
  SubscriptionPage,
} from "./subscriptions";

type Answer<F extends (...args: never[]) => unknown> = Awaited<ReturnType<F>>;

export type Served = [
  Assert<Documents<typeof NewAccessKey, Answer<typeof createAccessKey>>>,
  Assert<Documents<typeof AccessKeyList, Answer<typeof listAccessKeys>>>,
  Assert<Documents<typeof AccessKey, Answer<typeof revokeAccessKey>>>,
  Assert<Documents<typeof Host, Answer<typeof setHostState>>>,
  Assert<Documents<typeof HostPage, Answer<typeof listHosts>>>,
  Assert<Documents<typeof HostBatch, Answer<typeof createHosts>>>,
  Assert<Documents<typeof HostDetail, Answer<typeof describeHost>>>,
  Assert<Documents<typeof Recommendation, Answer<typeof recommend>>>,
  Assert<Documents<typeof HostMemorySummary, Answer<typeof hostMemory>>>,
  Assert<Documents<typeof Reservation, Answer<typeof runInstances>>>,
  Assert<Documents<typeof InstancePage, Answer<typeof listInstances>>>,
  Assert<Documents<typeof Instance, Answer<typeof describeInstance>>>,
  Assert<Documents<typeof Instance, Answer<typeof setWorkload>>>,
  Assert<Documents<typeof StateChange, Answer<typeof act>>>,
  Assert<Documents<typeof CpuCounters, Answer<typeof instanceCpu>>>,
  Assert<Documents<typeof Translation, Answer<typeof translateAddress>>>,
  Assert<Documents<typeof VmMemorySummary, Answer<typeof instanceMemory>>>,
  Assert<Documents<typeof EventPage, Answer<typeof listEvents>>>,
  Assert<Documents<typeof Clock, Answer<typeof clockView>>>,
  Assert<Documents<typeof ReconcileReport, Answer<typeof reconcile>>>,
  Assert<Documents<typeof NewAccount, Answer<typeof createAccount>>>,
  Assert<Documents<typeof NewApiKey, Answer<typeof addKey>>>,
  Assert<Documents<typeof KeyList, Answer<typeof listKeys>>>,
  Assert<Documents<typeof ApiKey, Answer<typeof revokeKey>>>,
  Assert<Documents<typeof NewSubscription, Answer<typeof createSubscription>>>,
  Assert<Documents<typeof NewSubscription, Answer<typeof rotateSecret>>>,
  Assert<Documents<typeof Subscription, Answer<typeof getSubscription>>>,
  Assert<Documents<typeof Subscription, Answer<typeof updateSubscription>>>,
  Assert<Documents<typeof SubscriptionPage, Answer<typeof listSubscriptions>>>,
  Assert<Documents<typeof DeliveryPage, Answer<typeof listDeliveries>>>,
  Assert<Documents<typeof Delivery, Answer<typeof redeliver>>>,
  Assert<Documents<typeof MetricStatistics, Answer<typeof metricStatistics>>>,
  Assert<Documents<typeof MetricPage, Answer<typeof listMetrics>>>,
  Assert<Documents<typeof Alarm, Answer<typeof createAlarm>>>,
  Assert<Documents<typeof Alarm, Answer<typeof getAlarm>>>,
  Assert<Documents<typeof AlarmPage, Answer<typeof listAlarms>>>,
  Assert<Documents<typeof StorageNode, Answer<typeof describeStorageNode>>>,
  Assert<Documents<typeof StorageNodeChange, Answer<typeof setStorageNodeState>>>,
  Assert<Documents<typeof StorageNodePage, Answer<typeof listStorageNodes>>>,
  Assert<Documents<typeof Volume, Answer<typeof createVolume>>>,
  Assert<Documents<typeof Volume, Answer<typeof describeVolume>>>,
  Assert<Documents<typeof Volume, Answer<typeof attachVolume>>>,
  Assert<Documents<typeof Volume, Answer<typeof detachVolume>>>,
  Assert<Documents<typeof VolumePage, Answer<typeof listVolumes>>>,
  Assert<Documents<typeof DeletedVolume, Answer<typeof deleteVolume>>>,
  Assert<Documents<typeof BlockWrite, Answer<typeof writeBlock>>>,
  Assert<Documents<typeof BlockRead, Answer<typeof readBlock>>>,
  Assert<Documents<typeof VolumeLoad, Answer<typeof runVolumeLoad>>>,
  Assert<Documents<typeof AllocatedHosts, Answer<typeof allocateHosts>>>,
  Assert<Documents<typeof DedicatedHost, Answer<typeof describeDedicatedHost>>>,
  Assert<Documents<typeof DedicatedHostPage, Answer<typeof listDedicatedHosts>>>,
  Assert<Documents<typeof ReleasedHosts, Answer<typeof releaseHosts>>>,
  Assert<Documents<typeof VolumeIoCounters, Answer<typeof volumeIoCounters>>>,
  Assert<Documents<typeof Snapshot, Answer<typeof createSnapshot>>>,
  Assert<Documents<typeof Snapshot, Answer<typeof describeSnapshot>>>,
  Assert<Documents<typeof SnapshotPage, Answer<typeof listSnapshots>>>,
  Assert<Documents<typeof InstanceStoreBlock, Answer<typeof readLocalBlock>>>,
  Assert<Documents<typeof InstanceStoreWrite, Answer<typeof writeLocalBlock>>>,
  Assert<Documents<typeof FileSystem, Answer<typeof createFileSystem>>>,
  Assert<Documents<typeof FileSystemPage, Answer<typeof listFileSystems>>>,
  Assert<Documents<typeof MountTarget, Answer<typeof createMountTarget>>>,
  Assert<Documents<typeof FileHandle, Answer<typeof openFile>>>,
  Assert<Documents<typeof FileContent, Answer<typeof readHandle>>>,
  Assert<Documents<typeof FileContent, Answer<typeof writeHandle>>>,
  Assert<Documents<typeof FileClosed, Answer<typeof closeHandle>>>,
  Assert<Documents<typeof FileList, Answer<typeof listFiles>>>,
  Assert<Documents<typeof FileDeleted, Answer<typeof deleteFile>>>,
  Assert<Documents<typeof Vpc, Answer<typeof createVpc>>>,
  Assert<Documents<typeof Vpc, Answer<typeof describeVpc>>>,
  Assert<Documents<typeof VpcPage, Answer<typeof listVpcs>>>,
  Assert<Documents<typeof Subnet, Answer<typeof createSubnet>>>,
  Assert<Documents<typeof Subnet, Answer<typeof describeSubnet>>>,
  Assert<Documents<typeof SubnetPage, Answer<typeof listSubnets>>>,
  Assert<Documents<typeof SecurityGroup, Answer<typeof createSecurityGroup>>>,
  Assert<Documents<typeof SecurityGroup, Answer<typeof describeSecurityGroup>>>,
  Assert<Documents<typeof SecurityGroup, Answer<typeof addRules>>>,
  Assert<Documents<typeof SecurityGroup, Answer<typeof removeRule>>>,
  Assert<Documents<typeof SecurityGroupPage, Answer<typeof listSecurityGroups>>>,
  Assert<Documents<typeof VpcPeering, Answer<typeof createPeering>>>,
  Assert<Documents<typeof VpcPeering, Answer<typeof deletePeering>>>,
  Assert<Documents<typeof VpcPeeringPage, Answer<typeof listPeerings>>>,
  Assert<Documents<typeof NetworkInterface, Answer<typeof describeInterface>>>,
  Assert<Documents<typeof NetworkInterfacePage, Answer<typeof listInterfaces>>>,
  Assert<Documents<typeof SendResult, Answer<typeof networkSend>>>,
  Assert<Documents<typeof NetworkEventPage, Answer<typeof listNetworkEvents>>>,
];
