// Every action the EC2 endpoint answers, by name, and those it names but cannot answer yet.

import { describeHosts } from "./actions/hosts";
import { describeInstanceStatus } from "./actions/instance-status";
import { describeInstanceTypes } from "./actions/instance-types";
import { INSTANCE_ACTIONS } from "./actions/instances";
import { NETWORK_ACTIONS } from "./actions/network";
import { PLACEMENT_ACTIONS } from "./actions/placement";
import { STORAGE_ACTIONS } from "./actions/storage";
import { TAG_ACTIONS } from "./actions/tags";
import { describeAvailabilityZones } from "./actions/zones";
import type { Action } from "./context";

export const ACTIONS: Record<string, Action> = {
  ...INSTANCE_ACTIONS,
  ...TAG_ACTIONS,
  ...NETWORK_ACTIONS,
  ...STORAGE_ACTIONS,
  ...PLACEMENT_ACTIONS,
  DescribeHosts: describeHosts,
  DescribeInstanceStatus: describeInstanceStatus,
  DescribeInstanceTypes: describeInstanceTypes,
  DescribeAvailabilityZones: describeAvailabilityZones,
};

/** EC2 actions whose fleet service does not exist: UnsupportedOperation, saying why. */
export const PENDING: Record<string, string> = {
  AllocateHosts: "the fleet's hosts are the operator's; a tenant cannot allocate dedicated hosts",
};
