// The network as the API shows it: VPCs, subnets, security groups and their rules, peerings,
// network interfaces, and the answer to a send (route, security groups, path, transfer).
import { z } from "@hono/zod-openapi";
import {
  MAX_GROUPS_PER_INTERFACE,
  MAX_RULES_PER_REQUEST,
  SG_DESCRIPTION_MAX_LENGTH,
  SG_NAME_MAX_LENGTH,
} from "../../fleet/limits";
import type { NetPath } from "../../sim/cpu";
import { NETWORK_EVENT_TYPES } from "../../sim/network/events";
import type { Ceiling } from "../../sim/network/path";
import { PROTOCOLS } from "../../sim/network/security-group";
import { MAX_VNI } from "../../sim/network/vswitch";
import { GROUP_STRATEGIES } from "../../sim/placement-groups";
import { HostId, Hypervisor, InstanceId, idOf, MAX_PAGE, Timestamp, Zone } from "./common";
import type { Assert, Same } from "./exact";
import { PlacementGroupName } from "./instances";

export const VpcId = idOf("vpc", "vpc-0123456789abcdef0");
export const SubnetId = idOf("subnet", "subnet-0123456789abcdef0");
export const SecurityGroupId = idOf("sg", "sg-0123456789abcdef0");
export const RuleId = idOf("sgr", "sgr-0123456789abcdef0");
export const InterfaceId = idOf("eni", "eni-0123456789abcdef0");
export const PeeringId = idOf("pcx", "pcx-0123456789abcdef0");

/** An IPv4 block as text; the service parses it and names the field when it is wrong. */
export const CidrBlock = z
  .string()
  .max(18)
  .regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, "must look like 10.0.0.0/16")
  .openapi({ example: "10.0.0.0/16" });
export const IpAddress = z
  .string()
  .max(15)
  .regex(/^\d{1,3}(\.\d{1,3}){3}$/, "must look like 10.0.0.5")
  .openapi({ example: "10.0.0.5" });
const MacAddress = z
  .string()
  .regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/)
  .max(17);
const Port = z.number().int().min(0).max(65535);
/** Printable ASCII: names and descriptions as EC2 takes them, and the model's own sentences. */
const PRINTABLE = /^[\x20-\x7e]*$/;
const printable = (max: number) => z.string().max(max).regex(PRINTABLE, "must be printable ASCII");
export const Protocol = z.enum(PROTOCOLS);
const Vni = z.number().int().min(1).max(MAX_VNI);

export const Vpc = z
  .object({ vpcId: VpcId, cidrBlock: CidrBlock, vni: Vni, isDefault: z.boolean(), createdAt: Timestamp })
  .openapi("Vpc");
export const VpcPage = z
  .object({ vpcs: z.array(Vpc).max(MAX_PAGE), nextCursor: VpcId.nullable() })
  .openapi("VpcPage");
export const CreateVpc = z.strictObject({ cidrBlock: CidrBlock }).openapi("CreateVpc");

export const Subnet = z
  .object({
    subnetId: SubnetId,
    vpcId: VpcId,
    availabilityZone: Zone,
    cidrBlock: CidrBlock,
    availableIpAddressCount: z.number().int(),
    isDefault: z.boolean(),
    createdAt: Timestamp,
  })
  .openapi("Subnet");
export const SubnetPage = z
  .object({ subnets: z.array(Subnet).max(MAX_PAGE), nextCursor: SubnetId.nullable() })
  .openapi("SubnetPage");
export const CreateSubnet = z
  .strictObject({ vpcId: VpcId, cidrBlock: CidrBlock, availabilityZone: Zone })
  .openapi("CreateSubnet");

const Direction = z.enum(["ingress", "egress"]);
export const SecurityGroupRule = z
  .object({
    ruleId: RuleId,
    direction: Direction,
    protocol: Protocol,
    fromPort: Port,
    toPort: Port,
    cidr: CidrBlock.nullable(),
    sourceGroupId: SecurityGroupId.nullable(),
  })
  .openapi("SecurityGroupRule");
export const SecurityGroup = z
  .object({
    groupId: SecurityGroupId,
    vpcId: VpcId,
    groupName: printable(SG_NAME_MAX_LENGTH),
    description: printable(SG_DESCRIPTION_MAX_LENGTH),
    isDefault: z.boolean(),
    // 60 each way (limits.ts).
    rules: z.array(SecurityGroupRule).max(120),
    createdAt: Timestamp,
  })
  .openapi("SecurityGroup");
export const SecurityGroupPage = z
  .object({ securityGroups: z.array(SecurityGroup).max(MAX_PAGE), nextCursor: SecurityGroupId.nullable() })
  .openapi("SecurityGroupPage");
const Name = z
  .string()
  .min(1)
  .max(SG_NAME_MAX_LENGTH)
  .regex(/^[\x20-\x7e]+$/, "must be printable ASCII");
export const CreateSecurityGroup = z
  .strictObject({
    vpcId: VpcId,
    groupName: Name,
    description: z
      .string()
      .max(SG_DESCRIPTION_MAX_LENGTH)
      .regex(/^[\x20-\x7e]*$/, "must be printable ASCII")
      .default(""),
  })
  .openapi("CreateSecurityGroup");
export const RuleInput = z
  .strictObject({
    direction: Direction,
    protocol: Protocol,
    fromPort: Port.optional(),
    toPort: Port.optional(),
    cidr: CidrBlock.optional(),
    sourceGroupId: SecurityGroupId.optional(),
  })
  .openapi("SecurityGroupRuleInput");
export const AddRules = z
  .strictObject({ rules: z.array(RuleInput).max(MAX_RULES_PER_REQUEST) })
  .openapi("AddSecurityGroupRules");

export const VpcPeering = z
  .object({
    vpcPeeringConnectionId: PeeringId,
    requesterVpcId: VpcId,
    accepterVpcId: VpcId,
    status: z.enum(["active", "deleted"]),
    createdAt: Timestamp,
  })
  .openapi("VpcPeeringConnection");
export const VpcPeeringPage = z
  .object({ vpcPeeringConnections: z.array(VpcPeering).max(MAX_PAGE), nextCursor: PeeringId.nullable() })
  .openapi("VpcPeeringConnectionPage");
export const CreatePeering = z
  .strictObject({ vpcId: VpcId, peerVpcId: VpcId })
  .openapi("CreateVpcPeeringConnection");

export const NetworkInterface = z
  .object({
    networkInterfaceId: InterfaceId,
    instanceId: InstanceId,
    subnetId: SubnetId,
    vpcId: VpcId,
    availabilityZone: Zone,
    macAddress: MacAddress,
    privateIpAddress: IpAddress,
    securityGroupIds: z.array(SecurityGroupId).max(MAX_GROUPS_PER_INTERFACE),
    status: z.enum(["in-use"]),
    createdAt: Timestamp,
  })
  .openapi("NetworkInterface");
export const NetworkInterfacePage = z
  .object({ networkInterfaces: z.array(NetworkInterface).max(MAX_PAGE), nextCursor: InterfaceId.nullable() })
  .openapi("NetworkInterfacePage");

export const SendRequest = z
  .strictObject({
    destination: z
      .strictObject({ instanceId: InstanceId.optional(), ip: IpAddress.optional() })
      .openapi({ description: "exactly one of instanceId and ip" }),
    protocol: z.enum(["tcp", "udp", "icmp"]),
    port: Port.default(0),
    sourcePort: Port.optional().openapi({
      description: "an ephemeral port (32768-60999) when absent; give it to send a reply",
    }),
    bytes: z.number().int().min(1),
  })
  .openapi("NetworkSend");

const Decision = z
  .object({
    direction: Direction,
    allowed: z.boolean(),
    decidedBy: z.enum(["rule", "tracked", "no-rule"]),
    ruleId: RuleId.nullable(),
    groupId: SecurityGroupId.nullable(),
  })
  .openapi("SecurityGroupDecision");

const AclDecision = z
  .object({
    networkAclId: idOf("acl", "acl-0123456789abcdef0"),
    subnetId: SubnetId,
    allowed: z.boolean(),
    ruleNumber: z.number().int().min(1).max(32767),
    ruleAction: z.enum(["allow", "deny"]),
    decidedBy: z.enum(["rule", "catch-all"]),
  })
  .openapi("NetworkAclDecision");

const Cost = z
  .object({
    packets: z.number(),
    guestCycles: z.number(),
    hypervisorCycles: z.number(),
    backendCycles: z.number(),
    dom0Cycles: z.number(),
    cardNs: z.number(),
    vmExits: z.number(),
    hypercalls: z.number(),
  })
  .openapi("TransferCost");

const NET_PATHS = ["ena", "sriov_vf", "virtio", "netfront", "emulated"] as const;
export type NetPathsChecked = Assert<Same<(typeof NET_PATHS)[number], NetPath>>;

const End = z
  .object({ hostId: HostId, hypervisor: Hypervisor, netPath: z.enum(NET_PATHS), cost: Cost })
  .openapi("SendEndpoint");

const CEILINGS = [
  "source-instance-bandwidth",
  "destination-instance-bandwidth",
  "single-flow",
  "source-vcpu",
  "destination-vcpu",
  "source-backend",
  "destination-backend",
  "source-card",
  "destination-card",
] as const;
export type CeilingsChecked = Assert<Same<(typeof CEILINGS)[number], Ceiling>>;
const Gbps = z.number().nullable();

const Transfer = z
  .object({
    mtu: z.number().int(),
    packets: z.number(),
    wireBytes: z.number(),
    hops: z.number().int(),
    latencyUs: z.number(),
    throughputGbps: z.number(),
    limitedBy: z.enum(CEILINGS),
    durationMs: z.number(),
    ceilingsGbps: z.object(
      Object.fromEntries(CEILINGS.map((k) => [k, Gbps])) as Record<(typeof CEILINGS)[number], typeof Gbps>,
    ),
  })
  .openapi("Transfer");

export const SendResult = z
  .object({
    delivered: z.boolean(),
    reason: printable(1024).nullable(),
    flow: z.object({
      protocol: z.enum(["tcp", "udp", "icmp"]),
      source: z.object({ instanceId: InstanceId, ip: IpAddress, port: Port }),
      destination: z.object({ instanceId: InstanceId.nullable(), ip: IpAddress, port: Port }),
    }),
    route: z
      .object({ kind: z.enum(["local", "peering"]), vpcId: VpcId, peeringId: PeeringId.nullable() })
      .nullable(),
    path: z
      .object({
        kind: z.enum(["vswitch", "overlay"]),
        vni: Vni.nullable(),
        hops: z.array(printable(256)).max(16),
      })
      .nullable(),
    securityGroups: z.object({ egress: Decision.nullable(), ingress: Decision.nullable() }),
    networkAcls: z
      .object({ crossed: z.boolean(), outbound: AclDecision.nullable(), inbound: AclDecision.nullable() })
      .nullable(),
    placementGroup: z
      .object({ groupName: PlacementGroupName, strategy: z.enum(GROUP_STRATEGIES) })
      .nullable()
      .openapi({
        description: "the placement group both ends share; a cluster group's single-flow limit is 10 Gbps",
      }),
    source: End.nullable(),
    destination: End.nullable(),
    transfer: Transfer.nullable(),
  })
  .openapi("NetworkSendResult");

export const NetworkEventType = z.enum(NETWORK_EVENT_TYPES);
export const NetworkEvent = z
  .object({
    seq: z.number().int(),
    id: z
      .string()
      .max(36)
      .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, "must be a UUID"),
    type: NetworkEventType,
    time: Timestamp,
    networkInterfaceId: InterfaceId,
    instanceId: InstanceId,
    privateIpAddress: IpAddress,
  })
  .openapi("NetworkEvent");
export const NetworkEventPage = z
  .object({ events: z.array(NetworkEvent).max(MAX_PAGE), nextCursor: z.number().int().nullable() })
  .openapi("NetworkEventPage");
