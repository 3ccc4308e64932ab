// The VPC actions, translated to the fleet's network services (fleet/vpcs.ts, subnets.ts,
// security-groups.ts): CreateVpc, CreateSubnet, DescribeVpcs, DescribeSubnets,
// CreateSecurityGroup, AuthorizeSecurityGroupIngress, DescribeSecurityGroups.
import { QUERY_MAX_RESULTS } from "../../../fleet/limits";
import {
  addRules,
  createSecurityGroup,
  describeSecurityGroup,
  listSecurityGroups,
  type RuleInput,
} from "../../../fleet/security-groups";
import { createSubnet, describeSubnet, listSubnets } from "../../../fleet/subnets";
import { createVpc, defaultVpc, describeVpc, listVpcs } from "../../../fleet/vpcs";
import type { Protocol } from "../../../sim/network/security-group";
import { type Action, type ActionContext, ready } from "../context";
import { invalidValue, QueryError, unsupported } from "../query";
import { wildcard } from "./instance-types";

type VpcView = Awaited<ReturnType<typeof describeVpc>>;
type SubnetView = Awaited<ReturnType<typeof describeSubnet>>;
type GroupView = Awaited<ReturnType<typeof describeSecurityGroup>>;

const idOf = (prefix: string, code: string) => (ctx: ActionContext, name: string) => {
  const id = ctx.q.required(name);
  if (!new RegExp(`^${prefix}-[0-9a-f]{17}$`).test(id)) {
    throw new QueryError(code, `Invalid id: "${id.slice(0, 64)}" (expecting "${prefix}-...")`);
  }
  return id;
};
const vpcId = idOf("vpc", "InvalidVpcID.Malformed");
const groupId = idOf("sg", "InvalidGroupId.Malformed");

const vpcItem = (v: VpcView, ownerId: string) => ({
  vpcId: v.vpcId,
  ownerId,
  state: "available",
  cidrBlock: v.cidrBlock,
  instanceTenancy: "default",
  isDefault: v.isDefault,
});

const subnetItem = (s: SubnetView, ownerId: string) => ({
  subnetId: s.subnetId,
  ownerId,
  state: "available",
  vpcId: s.vpcId,
  cidrBlock: s.cidrBlock,
  availableIpAddressCount: s.availableIpAddressCount,
  availabilityZone: s.availabilityZone,
  defaultForAz: s.isDefault,
  mapPublicIpOnLaunch: false,
});

/** EC2's IpProtocol: "tcp", "udp", "icmp" or "-1" for all, as the fleet's rules name them. */
const EC2_PROTOCOL: Record<string, Protocol> = {
  tcp: "tcp",
  udp: "udp",
  icmp: "icmp",
  "-1": "all",
  "6": "tcp",
  "17": "udp",
  "1": "icmp",
};

function permissions(rules: GroupView["rules"], direction: "ingress" | "egress", ownerId: string) {
  return rules
    .filter((r) => r.direction === direction)
    .map((r) => ({
      ipProtocol: r.protocol === "all" ? "-1" : r.protocol,
      fromPort: r.protocol === "all" ? undefined : r.fromPort,
      toPort: r.protocol === "all" ? undefined : r.toPort,
      groups: r.sourceGroupId ? [{ userId: ownerId, groupId: r.sourceGroupId }] : [],
      ipRanges: r.cidr ? [{ cidrIp: r.cidr }] : [],
      ipv6Ranges: [],
      prefixListIds: [],
    }));
}

const groupItem = (g: GroupView, ownerId: string) => ({
  ownerId,
  groupId: g.groupId,
  groupName: g.groupName,
  groupDescription: g.description,
  vpcId: g.vpcId,
  ipPermissions: permissions(g.rules, "ingress", ownerId),
  ipPermissionsEgress: permissions(g.rules, "egress", ownerId),
});

/** Every page of a list service, for the actions that filter what it gives. */
async function everyPage<T>(
  list: (cursor?: string) => Promise<{ items: T[]; nextCursor: string | null }>,
): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await list(cursor);
    out.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor && out.length < QUERY_MAX_RESULTS * 10);
  return out;
}

/** A page of `items` (in id order) after `nextToken`, at most `maxResults`, as EC2's list actions page. */
function paged<T>(
  items: T[],
  id: (x: T) => string,
  p: { maxResults: number | undefined; nextToken: string | undefined },
) {
  const rest = p.nextToken === undefined ? items : items.filter((x) => id(x) > p.nextToken!);
  const limit = p.maxResults ?? QUERY_MAX_RESULTS;
  const page = rest.slice(0, limit);
  return { page, nextToken: rest.length > limit ? id(page[page.length - 1]) : undefined };
}

function matches<T>(filters: Map<string, string[]>, fields: Record<string, (x: T) => string[]>) {
  return (x: T) =>
    [...filters].every(([name, values]) => fields[name](x).some((v) => values.some((p) => wildcard(p)(v))));
}

const createVpcAction: Action = async (ctx) => {
  const cidrBlock = ctx.q.required("CidrBlock");
  if (ctx.q.bool("AmazonProvidedIpv6CidrBlock"))
    throw unsupported("AmazonProvidedIpv6CidrBlock", "the fleet's VPCs are IPv4 only");
  ready(ctx, ctx.q.bool("DryRun"));
  return { vpc: vpcItem(await createVpc(ctx.fleet, { cidrBlock }), ctx.accountId) };
};

const createSubnetAction: Action = async (ctx) => {
  const vpc = vpcId(ctx, "VpcId");
  const cidrBlock = ctx.q.required("CidrBlock");
  const availabilityZone = ctx.q.required("AvailabilityZone");
  ready(ctx, ctx.q.bool("DryRun"));
  return {
    subnet: subnetItem(
      await createSubnet(ctx.fleet, { vpcId: vpc, cidrBlock, availabilityZone }),
      ctx.accountId,
    ),
  };
};

const VPC_FILTERS: Record<string, (v: VpcView) => string[]> = {
  "vpc-id": (v) => [v.vpcId],
  "cidr-block": (v) => [v.cidrBlock],
  cidr: (v) => [v.cidrBlock],
  "is-default": (v) => [String(v.isDefault)],
  state: () => ["available"],
};

const describeVpcs: Action = async (ctx) => {
  const ids = ctx.q.list("VpcId");
  const filters = ctx.q.filters((n) => Object.hasOwn(VPC_FILTERS, n));
  const paging = ctx.q.paging();
  ready(ctx, ctx.q.bool("DryRun"));
  const all =
    ids.length > 0
      ? await Promise.all([...new Set(ids)].map((id) => describeVpc(ctx.fleet, id)))
      : await everyPage(async (cursor) => {
          const p = await listVpcs(ctx.fleet, { ...(cursor ? { cursor } : {}), limit: 100 });
          return { items: p.vpcs, nextCursor: p.nextCursor };
        });
  const { page, nextToken } = paged(all.filter(matches(filters, VPC_FILTERS)), (v) => v.vpcId, paging);
  return { vpcSet: page.map((v) => vpcItem(v, ctx.accountId)), nextToken };
};

const SUBNET_FILTERS: Record<string, (s: SubnetView) => string[]> = {
  "subnet-id": (s) => [s.subnetId],
  "vpc-id": (s) => [s.vpcId],
  "availability-zone": (s) => [s.availabilityZone],
  "cidr-block": (s) => [s.cidrBlock],
  "default-for-az": (s) => [String(s.isDefault)],
  state: () => ["available"],
};

const describeSubnets: Action = async (ctx) => {
  const ids = ctx.q.list("SubnetId");
  const filters = ctx.q.filters((n) => Object.hasOwn(SUBNET_FILTERS, n));
  const paging = ctx.q.paging();
  ready(ctx, ctx.q.bool("DryRun"));
  const all =
    ids.length > 0
      ? await Promise.all([...new Set(ids)].map((id) => describeSubnet(ctx.fleet, id)))
      : await everyPage(async (cursor) => {
          const p = await listSubnets(ctx.fleet, { ...(cursor ? { cursor } : {}), limit: 100 });
          return { items: p.subnets, nextCursor: p.nextCursor };
        });
  const { page, nextToken } = paged(all.filter(matches(filters, SUBNET_FILTERS)), (s) => s.subnetId, paging);
  return { subnetSet: page.map((s) => subnetItem(s, ctx.accountId)), nextToken };
};

const createSecurityGroupAction: Action = async (ctx) => {
  const groupName = ctx.q.required("GroupName");
  const description = ctx.q.required("GroupDescription");
  const vpc = ctx.q.string("VpcId");
  ready(ctx, ctx.q.bool("DryRun"));
  // Without a VpcId, EC2 makes the group in the account's default VPC.
  const inVpc = vpc ?? (await defaultVpc(ctx.fleet, ctx.accountId)).id;
  const g = await createSecurityGroup(ctx.fleet, { vpcId: inVpc, groupName, description });
  return { return: true, groupId: g.groupId };
};

/** `IpPermissions.N` (or the older top-level IpProtocol, FromPort, ToPort, CidrIp) as rules. */
function ingressRules(ctx: ActionContext): RuleInput[] {
  const { q } = ctx;
  const rule = (
    field: string,
    protocol: string | undefined,
    from: number | undefined,
    to: number | undefined,
  ) => {
    if (protocol === undefined)
      throw new QueryError("MissingParameter", `The request must contain the parameter ${field}IpProtocol`);
    const p = EC2_PROTOCOL[protocol.toLowerCase()];
    if (!p)
      throw invalidValue(`${field}IpProtocol`, `'${protocol.slice(0, 16)}' is not tcp, udp, icmp or -1`);
    // EC2 gives ICMP's type and code in FromPort/ToPort; the fleet's rules match ICMP whole.
    const ported = p === "tcp" || p === "udp";
    return {
      direction: "ingress" as const,
      protocol: p,
      ...(ported && from !== undefined ? { fromPort: from } : {}),
      ...(ported && to !== undefined ? { toPort: to } : {}),
    };
  };
  const out: RuleInput[] = [];
  for (const perm of q.structs("IpPermissions", (p) => ({
    base: rule(
      `${p}.`,
      q.string(`${p}.IpProtocol`),
      q.int(`${p}.FromPort`, -1, 65535),
      q.int(`${p}.ToPort`, -1, 65535),
    ),
    cidrs: q.structs(`${p}.IpRanges`, (r) => {
      q.string(`${r}.Description`);
      return q.required(`${r}.CidrIp`);
    }),
    groups: q.structs(`${p}.Groups`, (g) => {
      q.string(`${g}.UserId`);
      q.string(`${g}.Description`);
      return q.required(`${g}.GroupId`);
    }),
  }))) {
    if (perm.cidrs.length + perm.groups.length === 0)
      throw invalidValue("IpPermissions", "a permission needs an IpRanges or a Groups entry");
    for (const cidr of perm.cidrs) out.push({ ...perm.base, cidr });
    for (const sourceGroupId of perm.groups) out.push({ ...perm.base, sourceGroupId });
  }
  const cidr = q.string("CidrIp");
  const protocol = q.string("IpProtocol");
  const source = q.string("SourceSecurityGroupId");
  if (cidr !== undefined || protocol !== undefined || source !== undefined) {
    const base = rule("", protocol, q.int("FromPort", -1, 65535), q.int("ToPort", -1, 65535));
    if (cidr !== undefined) out.push({ ...base, cidr });
    if (source !== undefined) out.push({ ...base, sourceGroupId: source });
    if (cidr === undefined && source === undefined)
      throw new QueryError(
        "MissingParameter",
        "The request must contain the parameter CidrIp or SourceSecurityGroupId",
      );
  }
  if (out.length === 0)
    throw new QueryError("MissingParameter", "The request must contain the parameter IpPermissions");
  return out;
}

const authorizeIngress: Action = async (ctx) => {
  const id = groupId(ctx, "GroupId");
  const rules = ingressRules(ctx);
  ready(ctx, ctx.q.bool("DryRun"));
  const g = await addRules(ctx.fleet, id, rules);
  return {
    return: true,
    securityGroupRuleSet: g.rules
      .filter((r) => r.direction === "ingress")
      .map((r) => ({
        securityGroupRuleId: r.ruleId,
        groupId: g.groupId,
        groupOwnerId: ctx.accountId,
        isEgress: false,
        ipProtocol: r.protocol === "all" ? "-1" : r.protocol,
        fromPort: r.fromPort,
        toPort: r.toPort,
        cidrIpv4: r.cidr ?? undefined,
        referencedGroupInfo: r.sourceGroupId
          ? { groupId: r.sourceGroupId, userId: ctx.accountId }
          : undefined,
      })),
  };
};

const GROUP_FILTERS: Record<string, (g: GroupView) => string[]> = {
  "group-id": (g) => [g.groupId],
  "group-name": (g) => [g.groupName],
  "vpc-id": (g) => [g.vpcId],
  description: (g) => [g.description],
};

const describeSecurityGroups: Action = async (ctx) => {
  const ids = ctx.q.list("GroupId");
  const names = ctx.q.list("GroupName");
  const filters = ctx.q.filters((n) => Object.hasOwn(GROUP_FILTERS, n));
  const paging = ctx.q.paging();
  ready(ctx, ctx.q.bool("DryRun"));
  const all =
    ids.length > 0
      ? await Promise.all([...new Set(ids)].map((id) => describeSecurityGroup(ctx.fleet, id)))
      : await everyPage(async (cursor) => {
          const p = await listSecurityGroups(ctx.fleet, { ...(cursor ? { cursor } : {}), limit: 100 });
          return { items: p.securityGroups, nextCursor: p.nextCursor };
        });
  const named = all.filter((g) => names.length === 0 || names.includes(g.groupName));
  const { page, nextToken } = paged(named.filter(matches(filters, GROUP_FILTERS)), (g) => g.groupId, paging);
  return { securityGroupInfo: page.map((g) => groupItem(g, ctx.accountId)), nextToken };
};

export const NETWORK_ACTIONS: Record<string, Action> = {
  CreateVpc: createVpcAction,
  CreateSubnet: createSubnetAction,
  DescribeVpcs: describeVpcs,
  DescribeSubnets: describeSubnets,
  CreateSecurityGroup: createSecurityGroupAction,
  AuthorizeSecurityGroupIngress: authorizeIngress,
  DescribeSecurityGroups: describeSecurityGroups,
};
