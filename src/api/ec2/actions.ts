// Every action the EC2 endpoint answers, by name, and those it names but cannot answer yet.

import { describeHosts } from "./actions/hosts";
import { describeInstanceStatus } from "./actions/instance-status";
import { describeInstanceTypes } from "./actions/instance-types";
import { INSTANCE_ACTIONS } from "./actions/instances";
import { TAG_ACTIONS } from "./actions/tags";
import { describeAvailabilityZones } from "./actions/zones";
import type { Action } from "./context";

export const ACTIONS: Record<string, Action> = {
  ...INSTANCE_ACTIONS,
  ...TAG_ACTIONS,
  DescribeHosts: describeHosts,
  DescribeInstanceStatus: describeInstanceStatus,
  DescribeInstanceTypes: describeInstanceTypes,
  DescribeAvailabilityZones: describeAvailabilityZones,
};

const NO_STORAGE = "the fleet has no EBS volumes or snapshots to act on";
const NO_NETWORKS = "the fleet has no VPCs, subnets or security groups to act on";

/** EC2 actions whose fleet service does not exist: UnsupportedOperation, saying why. */
export const PENDING: Record<string, string> = {
  CreateVolume: NO_STORAGE,
  AttachVolume: NO_STORAGE,
  DetachVolume: NO_STORAGE,
  DeleteVolume: NO_STORAGE,
  DescribeVolumes: NO_STORAGE,
  CreateSnapshot: NO_STORAGE,
  CreateVpc: NO_NETWORKS,
  CreateSubnet: NO_NETWORKS,
  DescribeVpcs: NO_NETWORKS,
  DescribeSubnets: NO_NETWORKS,
  CreateSecurityGroup: NO_NETWORKS,
  AuthorizeSecurityGroupIngress: NO_NETWORKS,
  DescribeSecurityGroups: NO_NETWORKS,
  CreatePlacementGroup: "the fleet has no placement groups",
  AllocateHosts: "the fleet's hosts are the operator's; a tenant cannot allocate dedicated hosts",
};
