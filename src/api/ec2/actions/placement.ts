// Placement groups and network ACLs, translated to the fleet's services (fleet/placement-groups.ts,
// fleet/network-acls.ts): CreatePlacementGroup, DescribePlacementGroups, DeletePlacementGroup,
// CreateNetworkAcl, CreateNetworkAclEntry, DeleteNetworkAcl, DescribeNetworkAcls and
// ReplaceNetworkAclAssociation, in EC2's shapes.

import { ApiError } from "../../../fleet/errors";
import { QUERY_MAX_RESULTS } from "../../../fleet/limits";
import {
  addEntry,
  createNetworkAcl,
  deleteNetworkAcl,
  describeNetworkAcl,
  listNetworkAcls,
  replaceAssociation,
} from "../../../fleet/network-acls";
import {
  createPlacementGroup,
  deletePlacementGroup,
  describePlacementGroup,
  GROUP_NOT_FOUND,
  listPlacementGroups,
} from "../../../fleet/placement-groups";
import { MAX_RULE_NUMBER, MIN_RULE_NUMBER } from "../../../sim/network/network-acl";
import type { Protocol } from "../../../sim/network/security-group";
import { GROUP_STRATEGIES, type GroupStrategy, MAX_PARTITIONS_PER_ZONE } from "../../../sim/placement-groups";
import { type Action, type ActionContext, ready } from "../context";
import { invalidValue, QueryError, unsupported } from "../query";
import { wildcard } from "./instance-types";

type GroupView = Awaited<ReturnType<typeof describePlacementGroup>>;
type AclView = Awaited<ReturnType<typeof describeNetworkAcl>>;

const matches =
  <T>(filters: Map<string, string[]>, fields: Record<string, (x: T) => string[]>) =>
  (x: T) =>
    [...filters].every(([name, values]) => fields[name](x).some((v) => values.some((p) => wildcard(p)(v))));

function paged<T>(items: T[], id: (x: T) => string, p: { maxResults?: number; nextToken?: string }) {
  const rest = p.nextToken === undefined ? items : items.filter((x) => id(x) > p.nextToken!);
  const limit = p.maxResults ?? QUERY_MAX_RESULTS;
  const page = rest.slice(0, limit);
  return { page, nextToken: rest.length > limit ? id(page[page.length - 1]) : undefined };
}

// ---- placement groups

/** A group the caller has none of by that name, with EC2's code for it. */
export async function withGroupCodes<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof ApiError && err.code === GROUP_NOT_FOUND)
      throw new QueryError("InvalidPlacementGroup.Unknown", err.message);
    throw err;
  }
}

const groupItem = (g: GroupView) => ({
  groupName: g.groupName,
  state: g.state,
  strategy: g.strategy,
  partitionCount: g.partitionCount ?? undefined,
  groupId: g.groupId,
  spreadLevel: g.strategy === "spread" ? "rack" : undefined,
});

const createPlacementGroupAction: Action = async (ctx) => {
  const groupName = ctx.q.required("GroupName");
  const strategy = ctx.q.required("Strategy");
  if (!(GROUP_STRATEGIES as readonly string[]).includes(strategy)) {
    throw invalidValue("Strategy", `'${strategy.slice(0, 32)}' is not cluster, partition or spread`);
  }
  const partitionCount = ctx.q.int("PartitionCount", 1, MAX_PARTITIONS_PER_ZONE);
  const spreadLevel = ctx.q.string("SpreadLevel");
  if (spreadLevel !== undefined && spreadLevel !== "rack") {
    throw unsupported(`SpreadLevel '${spreadLevel.slice(0, 16)}'`, "spread groups here spread over racks");
  }
  ready(ctx, ctx.q.bool("DryRun"));
  const g = await createPlacementGroup(ctx.fleet, {
    groupName,
    strategy: strategy as GroupStrategy,
    ...(partitionCount !== undefined ? { partitionCount } : {}),
  });
  return { return: true, placementGroup: groupItem(g) };
};

const GROUP_FILTERS: Record<string, (g: GroupView) => string[]> = {
  "group-name": (g) => [g.groupName],
  "group-id": (g) => [g.groupId],
  strategy: (g) => [g.strategy],
  state: (g) => [g.state],
  "spread-level": (g) => (g.strategy === "spread" ? ["rack"] : []),
};

const describePlacementGroups: Action = async (ctx) => {
  const names = ctx.q.list("GroupName");
  const ids = ctx.q.list("GroupId");
  const filters = ctx.q.filters((n) => Object.hasOwn(GROUP_FILTERS, n));
  ready(ctx, ctx.q.bool("DryRun"));
  let all: GroupView[];
  if (names.length > 0) {
    all = await withGroupCodes(
      Promise.all([...new Set(names)].map((n) => describePlacementGroup(ctx.fleet, n))),
    );
  } else {
    all = [];
    let cursor: string | undefined;
    do {
      const p = await listPlacementGroups(ctx.fleet, { ...(cursor ? { cursor } : {}), limit: 100 });
      all.push(...p.placementGroups);
      cursor = p.nextCursor ?? undefined;
    } while (cursor);
  }
  if (ids.length > 0) {
    const missing = ids.find((id) => !all.some((g) => g.groupId === id));
    if (missing)
      throw new QueryError(
        "InvalidPlacementGroupId.NotFound",
        `The placement group ID '${missing.slice(0, 64)}' does not exist`,
      );
    all = all.filter((g) => ids.includes(g.groupId));
  }
  return { placementGroupSet: all.filter(matches(filters, GROUP_FILTERS)).map(groupItem) };
};

const deletePlacementGroupAction: Action = async (ctx) => {
  const groupName = ctx.q.required("GroupName");
  ready(ctx, ctx.q.bool("DryRun"));
  await withGroupCodes(deletePlacementGroup(ctx.fleet, groupName));
  return { return: true };
};

// ---- network ACLs

/** EC2 writes a rule's protocol as its IANA number, -1 for all. */
const PROTOCOL_NUMBER: Record<Protocol, string> = { all: "-1", tcp: "6", udp: "17", icmp: "1" };
const PROTOCOL_OF: Record<string, Protocol> = {
  "-1": "all",
  all: "all",
  "6": "tcp",
  tcp: "tcp",
  "17": "udp",
  udp: "udp",
  "1": "icmp",
  icmp: "icmp",
};

function aclItem(a: AclView, ownerId: string) {
  return {
    networkAclId: a.networkAclId,
    vpcId: a.vpcId,
    default: a.isDefault,
    entrySet: a.entries.map((e) => ({
      ruleNumber: e.ruleNumber,
      protocol: PROTOCOL_NUMBER[e.protocol],
      ruleAction: e.ruleAction,
      egress: e.direction === "egress",
      cidrBlock: e.cidrBlock,
      portRange:
        e.protocol === "tcp" || e.protocol === "udp" ? { from: e.fromPort, to: e.toPort } : undefined,
    })),
    associationSet: a.associations.map((s) => ({
      networkAclAssociationId: s.networkAclAssociationId,
      networkAclId: a.networkAclId,
      subnetId: s.subnetId,
    })),
    tagSet: [],
    ownerId,
  };
}

const aclId = (ctx: ActionContext, name: string) => {
  const id = ctx.q.required(name);
  if (!/^acl-[0-9a-f]{17}$/.test(id)) {
    throw new QueryError(
      "InvalidNetworkAclID.Malformed",
      `Invalid id: "${id.slice(0, 64)}" (expecting "acl-...")`,
    );
  }
  return id;
};

const createNetworkAclAction: Action = async (ctx) => {
  const vpcId = ctx.q.required("VpcId");
  const clientToken = ctx.q.string("ClientToken");
  ready(ctx, ctx.q.bool("DryRun"));
  const acl = await createNetworkAcl(ctx.fleet, {
    vpcId,
    ...(clientToken !== undefined ? { clientToken } : {}),
  });
  return { networkAcl: aclItem(acl, ctx.accountId), clientToken };
};

const createNetworkAclEntryAction: Action = async (ctx) => {
  const { q } = ctx;
  const id = aclId(ctx, "NetworkAclId");
  const ruleNumber = q.int("RuleNumber", MIN_RULE_NUMBER, MAX_RULE_NUMBER);
  if (ruleNumber === undefined)
    throw new QueryError("MissingParameter", "The request must contain the parameter RuleNumber");
  const protocolText = q.required("Protocol");
  const protocol = PROTOCOL_OF[protocolText.toLowerCase()];
  if (!protocol)
    throw invalidValue("Protocol", `'${protocolText.slice(0, 16)}' is not -1, 6 (tcp), 17 (udp) or 1 (icmp)`);
  const ruleAction = q.required("RuleAction");
  if (ruleAction !== "allow" && ruleAction !== "deny")
    throw invalidValue("RuleAction", "must be allow or deny");
  const egress = q.bool("Egress");
  if (egress === undefined)
    throw new QueryError("MissingParameter", "The request must contain the parameter Egress");
  const cidrBlock = q.string("CidrBlock");
  if (cidrBlock === undefined) {
    if (q.string("Ipv6CidrBlock") !== undefined)
      throw unsupported("Ipv6CidrBlock", "the fleet's VPCs are IPv4 only");
    throw new QueryError("MissingParameter", "The request must contain the parameter CidrBlock");
  }
  const from = q.int("PortRange.From", 0, 65535);
  const to = q.int("PortRange.To", 0, 65535);
  // ICMP's type and code are not modelled: an ICMP rule matches every ICMP packet.
  q.int("Icmp.Type", -1, 255);
  q.int("Icmp.Code", -1, 255);
  ready(ctx, q.bool("DryRun"));
  await addEntry(ctx.fleet, id, {
    ruleNumber,
    direction: egress ? "egress" : "ingress",
    protocol,
    ...(from !== undefined ? { fromPort: from } : {}),
    ...(to !== undefined ? { toPort: to } : {}),
    cidrBlock,
    ruleAction,
  });
  return { return: true };
};

const deleteNetworkAclAction: Action = async (ctx) => {
  const id = aclId(ctx, "NetworkAclId");
  ready(ctx, ctx.q.bool("DryRun"));
  await deleteNetworkAcl(ctx.fleet, id);
  return { return: true };
};

const ACL_FILTERS: Record<string, (a: AclView) => string[]> = {
  "network-acl-id": (a) => [a.networkAclId],
  "vpc-id": (a) => [a.vpcId],
  default: (a) => [String(a.isDefault)],
  "association.subnet-id": (a) => a.associations.map((s) => s.subnetId),
  "association.association-id": (a) => a.associations.map((s) => s.networkAclAssociationId),
  "association.network-acl-id": (a) => (a.associations.length > 0 ? [a.networkAclId] : []),
};

const describeNetworkAcls: Action = async (ctx) => {
  const ids = ctx.q.list("NetworkAclId");
  const filters = ctx.q.filters((n) => Object.hasOwn(ACL_FILTERS, n));
  const paging = ctx.q.paging();
  ready(ctx, ctx.q.bool("DryRun"));
  let all: AclView[];
  if (ids.length > 0) {
    all = await Promise.all([...new Set(ids)].map((id) => describeNetworkAcl(ctx.fleet, id)));
  } else {
    all = [];
    let cursor: string | undefined;
    do {
      const p = await listNetworkAcls(ctx.fleet, { ...(cursor ? { cursor } : {}), limit: 100 });
      all.push(...p.networkAcls);
      cursor = p.nextCursor ?? undefined;
    } while (cursor);
  }
  const { page, nextToken } = paged(all.filter(matches(filters, ACL_FILTERS)), (a) => a.networkAclId, paging);
  return { networkAclSet: page.map((a) => aclItem(a, ctx.accountId)), nextToken };
};

const replaceNetworkAclAssociation: Action = async (ctx) => {
  const associationId = ctx.q.required("AssociationId");
  const id = aclId(ctx, "NetworkAclId");
  ready(ctx, ctx.q.bool("DryRun"));
  const a = await replaceAssociation(ctx.fleet, associationId, id);
  return { newAssociationId: a.networkAclAssociationId };
};

export const PLACEMENT_ACTIONS: Record<string, Action> = {
  CreatePlacementGroup: createPlacementGroupAction,
  DescribePlacementGroups: describePlacementGroups,
  DeletePlacementGroup: deletePlacementGroupAction,
  CreateNetworkAcl: createNetworkAclAction,
  CreateNetworkAclEntry: createNetworkAclEntryAction,
  DeleteNetworkAcl: deleteNetworkAclAction,
  DescribeNetworkAcls: describeNetworkAcls,
  ReplaceNetworkAclAssociation: replaceNetworkAclAssociation,
};
