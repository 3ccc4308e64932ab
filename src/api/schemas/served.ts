// Each response schema against what its service really returns: the same fields at every
// depth, so an answer cannot carry a field the document leaves out, nor the document promise
// one the answer lacks. (The route handlers' typing checks the values in the other direction.)
import type { addKey, createAccount, listKeys, revokeKey } from "../../fleet/accounts";
import type { createAlarm, getAlarm, listAlarms } from "../../fleet/alarms";
import type { clockView } from "../../fleet/clock";
import type { describeInterface, listInterfaces } from "../../fleet/enis";
import type { listEvents } from "../../fleet/events";
import type { describeHost, hostMemory, listHosts, recommend, setHostState } from "../../fleet/hosts";
import type { act } from "../../fleet/instance-actions";
import type { describeInstance, listInstances } from "../../fleet/instance-queries";
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
import type { createSubnet, describeSubnet, listSubnets } from "../../fleet/subnets";
import type {
  createSubscription,
  getSubscription,
  listSubscriptions,
  rotateSecret,
  updateSubscription,
} from "../../fleet/subscriptions";
import type { listDeliveries, redeliver } from "../../fleet/subscriptions-deliveries";
import type { createPeering, deletePeering, listPeerings } from "../../fleet/vpc-peerings";
import type { createVpc, describeVpc, listVpcs } from "../../fleet/vpcs";
import type { ApiKey, KeyList, NewAccount, NewApiKey } from "./accounts";
import type { Clock, EventPage, ReconcileReport } from "./admin";
import type { CpuCounters, Recommendation } from "./cpu";
import type { Assert, Documents } from "./exact";
import type { Host, HostDetail, HostPage } from "./hosts";
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
  Delivery,
  DeliveryPage,
  NewSubscription,
  Subscription,
  SubscriptionPage,
} from "./subscriptions";

type Answer<F extends (...args: never[]) => unknown> = Awaited<ReturnType<F>>;

export type Served = [
  Assert<Documents<typeof Host, Answer<typeof setHostState>>>,
  Assert<Documents<typeof HostPage, Answer<typeof listHosts>>>,
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
