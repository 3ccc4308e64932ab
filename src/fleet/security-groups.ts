// Security groups: named sets of allow rules in one VPC, applied at every interface that is a
// member (the hosts' virtual switches evaluate them, sim/network/security-group.ts). A new
// group allows all traffic out and nothing in, as EC2's do.
import { and, asc, count, eq, gt, inArray } from "drizzle-orm";
import { securityGroupRules, securityGroups } from "../db/schema";
import { parseCidr } from "../sim/network/ipv4";
import type { Direction, Protocol, SgRule } from "../sim/network/security-group";
import type { Fleet } from "./context";
import { ApiError, invalidParameter } from "./errors";
import { newId } from "./ids";
import { MAX_RULES_PER_DIRECTION, MAX_SECURITY_GROUPS_PER_ACCOUNT } from "./limits";
import { IN_LIST } from "./mirror";
import { groupNotFound, isUniqueViolation, quotaExceeded } from "./network-errors";
import { creatorAccount, ownedBy } from "./ownership";
import { pageOf } from "./paging";
import { allOutbound, requireVpc } from "./vpcs";

type GroupRow = typeof securityGroups.$inferSelect;
type RuleRow = typeof securityGroupRules.$inferSelect;

export interface RuleInput {
  direction: Direction;
  protocol: Protocol;
  fromPort?: number;
  toPort?: number;
  cidr?: string;
  sourceGroupId?: string;
}

function ruleView(r: RuleRow) {
  return {
    ruleId: r.id,
    direction: r.direction as Direction,
    protocol: r.protocol as Protocol,
    fromPort: r.fromPort,
    toPort: r.toPort,
    cidr: r.cidr,
    sourceGroupId: r.peerGroupId,
  };
}

function groupView(g: GroupRow, rules: RuleRow[]) {
  return {
    groupId: g.id,
    vpcId: g.vpcId,
    groupName: g.name,
    description: g.description,
    isDefault: g.isDefault,
    rules: rules.filter((r) => r.groupId === g.id).map(ruleView),
    createdAt: new Date(g.createdAt).toISOString(),
  };
}

async function rulesOf(fleet: Fleet, groupIds: readonly string[]): Promise<RuleRow[]> {
  const out: RuleRow[] = [];
  // A page of groups may pass D1's 100 bound parameters a statement: their ids go IN_LIST at a time.
  for (let at = 0; at < groupIds.length; at += IN_LIST) {
    out.push(
      ...(await fleet.db
        .select()
        .from(securityGroupRules)
        .where(inArray(securityGroupRules.groupId, groupIds.slice(at, at + IN_LIST)))),
    );
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : 1));
}

export async function requireGroups(fleet: Fleet, ids: readonly string[]): Promise<GroupRow[]> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return [];
  const rows = await fleet.db
    .select()
    .from(securityGroups)
    .where(and(inArray(securityGroups.id, unique), ownedBy(fleet.caller, securityGroups.accountId)));
  const missing = unique.find((id) => !rows.some((r) => r.id === id));
  if (missing) throw groupNotFound(missing);
  return rows;
}

export async function createSecurityGroup(
  fleet: Fleet,
  input: { vpcId: string; groupName: string; description: string },
) {
  const accountId = creatorAccount(fleet.caller);
  const vpc = await requireVpc(fleet, input.vpcId);
  const [{ n }] = await fleet.db
    .select({ n: count() })
    .from(securityGroups)
    .where(eq(securityGroups.accountId, accountId));
  if (n >= MAX_SECURITY_GROUPS_PER_ACCOUNT) {
    throw quotaExceeded(
      "SecurityGroupLimitExceeded",
      `an account may have at most ${MAX_SECURITY_GROUPS_PER_ACCOUNT} security groups`,
    );
  }
  const now = await fleet.now();
  const group: GroupRow = {
    id: newId("sg"),
    accountId,
    vpcId: vpc.id,
    name: input.groupName,
    description: input.description,
    isDefault: false,
    createdAt: now,
  };
  const out = allOutbound(accountId, group.id, now);
  try {
    await fleet.db.batch([
      fleet.db.insert(securityGroups).values(group),
      fleet.db.insert(securityGroupRules).values(out),
    ]);
  } catch (err) {
    if (isUniqueViolation(err)) {
      throw new ApiError(
        400,
        "InvalidGroup.Duplicate",
        `body.groupName: '${input.groupName}' is taken in ${vpc.id}`,
        {
          field: "body.groupName",
        },
      );
    }
    throw err;
  }
  return groupView(group, [out]);
}

async function requireGroup(fleet: Fleet, id: string): Promise<GroupRow> {
  return (await requireGroups(fleet, [id]))[0];
}

export async function describeSecurityGroup(fleet: Fleet, id: string) {
  const g = await requireGroup(fleet, id);
  return groupView(g, await rulesOf(fleet, [g.id]));
}

export async function listSecurityGroups(
  fleet: Fleet,
  q: { vpcId?: string; cursor?: string; limit: number },
) {
  const rows = await fleet.db
    .select()
    .from(securityGroups)
    .where(
      and(
        ownedBy(fleet.caller, securityGroups.accountId),
        q.vpcId ? eq(securityGroups.vpcId, q.vpcId) : undefined,
        q.cursor ? gt(securityGroups.id, q.cursor) : undefined,
      ),
    )
    .orderBy(asc(securityGroups.id))
    .limit(q.limit + 1);
  const { page, nextCursor } = pageOf(rows, q.limit, (r) => r.id);
  const rules = await rulesOf(
    fleet,
    page.map((g) => g.id),
  );
  return { securityGroups: page.map((g) => groupView(g, rules)), nextCursor };
}

/** Adds rules to a group, all or none (EC2's AuthorizeSecurityGroupIngress/Egress). */
export async function addRules(fleet: Fleet, groupId: string, inputs: RuleInput[]) {
  creatorAccount(fleet.caller);
  const group = await requireGroup(fleet, groupId);
  const now = await fleet.now();
  const rows: RuleRow[] = [];
  const peers = inputs.map((r) => r.sourceGroupId).filter((x): x is string => x !== undefined);
  const peerRows = await requireGroups(fleet, peers);
  inputs.forEach((r, i) => {
    const field = `body.rules.${i}`;
    const ported = r.protocol === "tcp" || r.protocol === "udp";
    const fromPort = ported ? r.fromPort : 0;
    const toPort = ported ? r.toPort : 65535;
    if (fromPort === undefined || toPort === undefined) {
      throw invalidParameter(`${field}.fromPort`, `a ${r.protocol} rule needs fromPort and toPort`);
    }
    if (fromPort > toPort) throw invalidParameter(`${field}.fromPort`, "must not exceed toPort");
    if ((r.cidr === undefined) === (r.sourceGroupId === undefined)) {
      throw invalidParameter(field, "needs exactly one of cidr and sourceGroupId");
    }
    if (r.cidr !== undefined && !parseCidr(r.cidr)) {
      throw invalidParameter(
        `${field}.cidr`,
        `'${r.cidr}' is not an IPv4 block such as 10.0.0.0/16 (no host bits set)`,
      );
    }
    const peer = peerRows.find((p) => p.id === r.sourceGroupId);
    if (peer && peer.vpcId !== group.vpcId) {
      throw invalidParameter(
        `${field}.sourceGroupId`,
        `${peer.id} is in ${peer.vpcId}, not the group's ${group.vpcId}`,
      );
    }
    rows.push({
      id: newId("sgr"),
      accountId: group.accountId,
      groupId: group.id,
      direction: r.direction,
      protocol: r.protocol,
      fromPort,
      toPort,
      cidr: r.cidr ?? null,
      peerGroupId: r.sourceGroupId ?? null,
      createdAt: now,
    });
  });
  const existing = await rulesOf(fleet, [group.id]);
  for (const d of ["ingress", "egress"] as const) {
    const total =
      existing.filter((r) => r.direction === d).length + rows.filter((r) => r.direction === d).length;
    if (total > MAX_RULES_PER_DIRECTION) {
      throw quotaExceeded(
        "RulesPerSecurityGroupLimitExceeded",
        `a group may have at most ${MAX_RULES_PER_DIRECTION} ${d} rules`,
      );
    }
  }
  if (rows.length > 0) await fleet.db.insert(securityGroupRules).values(rows);
  return groupView(group, [...existing, ...rows]);
}

export async function removeRule(fleet: Fleet, groupId: string, ruleId: string) {
  creatorAccount(fleet.caller);
  const group = await requireGroup(fleet, groupId);
  const gone = await fleet.db
    .delete(securityGroupRules)
    .where(and(eq(securityGroupRules.id, ruleId), eq(securityGroupRules.groupId, group.id)))
    .returning({ id: securityGroupRules.id });
  if (gone.length === 0) {
    throw new ApiError(404, "InvalidPermission.NotFound", `The rule '${ruleId}' is not in ${group.id}`, {});
  }
  return groupView(group, await rulesOf(fleet, [group.id]));
}

/** The rules of `groupIds` as the virtual switch evaluates them. */
export async function switchRules(fleet: Fleet, groupIds: readonly string[]): Promise<SgRule[]> {
  return (await rulesOf(fleet, groupIds)).map((r) => ({
    ruleId: r.id,
    groupId: r.groupId,
    direction: r.direction as Direction,
    protocol: r.protocol as Protocol,
    fromPort: r.fromPort,
    toPort: r.toPort,
    cidr: r.cidr ? parseCidr(r.cidr) : null,
    peerGroupId: r.peerGroupId,
  }));
}
