// Network ACLs: numbered allow and deny rules at subnets' edges (sim/network/network-acl.ts).
// Each VPC has a default one that allows everything, and every subnet is associated with
// exactly one ACL: the default until another is associated. Both are made on first need (a
// VPC or subnet made before network ACLs existed gets them the same way), owned by the VPC's
// account from birth.
import { and, asc, count, eq, gt, inArray, notExists } from "drizzle-orm";
import { networkAclAssociations, networkAclEntries, networkAcls, subnets, vpcs } from "../db/schema";
import { formatCidr, parseCidr } from "../sim/network/ipv4";
import {
  CATCH_ALL_RULE_NUMBER,
  defaultEntries,
  MAX_RULE_NUMBER,
  MIN_RULE_NUMBER,
  type NaclEntry,
  type RuleAction,
  type SubnetEdge,
} from "../sim/network/network-acl";
import type { Direction, Protocol } from "../sim/network/security-group";
import type { Fleet } from "./context";
import { ApiError, invalidParameter } from "./errors";
import { newId } from "./ids";
import { checkClientToken, MAX_NACL_RULES_PER_DIRECTION, MAX_NETWORK_ACLS_PER_VPC } from "./limits";
import { IN_LIST } from "./mirror";
import { aclAssociationNotFound, aclNotFound, isUniqueViolation, quotaExceeded } from "./network-errors";
import { creatorAccount, ownedBy } from "./ownership";
import { pageOf } from "./paging";
import { requireSubnet } from "./subnets";
import { requireVpc, type VpcRow } from "./vpcs";

type AclRow = typeof networkAcls.$inferSelect;
type EntryRow = typeof networkAclEntries.$inferSelect;
type AssociationRow = typeof networkAclAssociations.$inferSelect;

export interface EntryInput {
  ruleNumber: number;
  direction: Direction;
  protocol: Protocol;
  fromPort?: number;
  toPort?: number;
  cidrBlock: string;
  ruleAction: RuleAction;
}

function entryView(
  e: Pick<EntryRow, "ruleNumber" | "direction" | "protocol" | "fromPort" | "toPort" | "cidr" | "action">,
) {
  return {
    ruleNumber: e.ruleNumber,
    direction: e.direction as Direction,
    protocol: e.protocol as Protocol,
    fromPort: e.fromPort,
    toPort: e.toPort,
    cidrBlock: e.cidr,
    ruleAction: e.action as RuleAction,
  };
}

/** The "*" rule each direction ends with: shown, never stored, never removed. */
const catchAll = (direction: Direction) =>
  entryView({
    ruleNumber: CATCH_ALL_RULE_NUMBER,
    direction,
    protocol: "all",
    fromPort: 0,
    toPort: 65535,
    cidr: "0.0.0.0/0",
    action: "deny",
  });

function aclView(a: AclRow, entries: EntryRow[], associations: AssociationRow[]) {
  const mine = entries
    .filter((e) => e.aclId === a.id)
    .sort((x, y) =>
      x.direction < y.direction ? -1 : x.direction > y.direction ? 1 : x.ruleNumber - y.ruleNumber,
    );
  return {
    networkAclId: a.id,
    vpcId: a.vpcId,
    isDefault: a.isDefault,
    entries: [
      ...mine.filter((e) => e.direction === "egress").map(entryView),
      catchAll("egress"),
      ...mine.filter((e) => e.direction === "ingress").map(entryView),
      catchAll("ingress"),
    ],
    associations: associations
      .filter((s) => s.aclId === a.id)
      .sort((x, y) => (x.subnetId < y.subnetId ? -1 : 1))
      .map((s) => ({ networkAclAssociationId: s.id, subnetId: s.subnetId })),
    createdAt: new Date(a.createdAt).toISOString(),
  };
}

async function inChunks<T>(ids: readonly string[], read: (chunk: string[]) => Promise<T[]>): Promise<T[]> {
  const out: T[] = [];
  // D1 binds at most 100 parameters a statement.
  for (let at = 0; at < ids.length; at += IN_LIST) out.push(...(await read(ids.slice(at, at + IN_LIST))));
  return out;
}

async function views(fleet: Fleet, acls: AclRow[]) {
  const ids = acls.map((a) => a.id);
  const [entries, associations] = await Promise.all([
    inChunks(ids, (c) =>
      fleet.db.select().from(networkAclEntries).where(inArray(networkAclEntries.aclId, c)),
    ),
    inChunks(ids, (c) =>
      fleet.db.select().from(networkAclAssociations).where(inArray(networkAclAssociations.aclId, c)),
    ),
  ]);
  return acls.map((a) => aclView(a, entries, associations));
}

const defaultAclOf = (fleet: Fleet, vpcId: string) =>
  fleet.db
    .select()
    .from(networkAcls)
    .where(and(eq(networkAcls.vpcId, vpcId), eq(networkAcls.isDefault, true)))
    .get();

/**
 * The VPC's default ACL, made now if it has none, and an association with it for every subnet
 * of the VPC that has none. Racing callers are kept apart by the unique indexes: the loser
 * reads the winner's rows.
 */
export async function ensureAcls(fleet: Fleet, vpc: Pick<VpcRow, "id" | "accountId">): Promise<AclRow> {
  let acl = await defaultAclOf(fleet, vpc.id);
  if (!acl) {
    const now = await fleet.now();
    const row: AclRow = {
      id: newId("acl"),
      accountId: vpc.accountId,
      vpcId: vpc.id,
      isDefault: true,
      clientToken: null,
      createdAt: now,
    };
    try {
      await fleet.db.batch([
        fleet.db.insert(networkAcls).values(row),
        fleet.db.insert(networkAclEntries).values(defaultEntries().map((e) => entryRow(row, e, now))),
      ]);
      acl = row;
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      acl = await defaultAclOf(fleet, vpc.id);
      if (!acl) throw err;
    }
  }
  const bare = await fleet.db
    .select({ id: subnets.id })
    .from(subnets)
    .where(
      and(
        eq(subnets.vpcId, vpc.id),
        notExists(
          fleet.db
            .select({ one: networkAclAssociations.id })
            .from(networkAclAssociations)
            .where(eq(networkAclAssociations.subnetId, subnets.id)),
        ),
      ),
    );
  const defaultAcl = acl;
  const rows = bare.map((s) => ({
    id: newId("aclassoc"),
    accountId: vpc.accountId,
    subnetId: s.id,
    aclId: defaultAcl.id,
    vpcId: vpc.id,
  }));
  // Five columns a row: at most 20 rows fit one statement's parameters.
  for (let at = 0; at < rows.length; at += 20) {
    await fleet.db
      .insert(networkAclAssociations)
      .values(rows.slice(at, at + 20))
      .onConflictDoNothing();
  }
  return acl;
}

function entryRow(acl: Pick<AclRow, "id" | "accountId">, e: NaclEntry, now: number): EntryRow {
  return {
    aclId: acl.id,
    accountId: acl.accountId,
    direction: e.direction,
    ruleNumber: e.ruleNumber,
    protocol: e.protocol,
    fromPort: e.fromPort,
    toPort: e.toPort,
    cidr: formatCidr(e.cidr),
    action: e.action,
    createdAt: now,
  };
}

async function requireAcl(fleet: Fleet, id: string): Promise<AclRow> {
  const row = await fleet.db
    .select()
    .from(networkAcls)
    .where(and(eq(networkAcls.id, id), ownedBy(fleet.caller, networkAcls.accountId)))
    .get();
  if (!row) throw aclNotFound(id);
  return row;
}

export async function createNetworkAcl(fleet: Fleet, input: { vpcId: string; clientToken?: string }) {
  const accountId = creatorAccount(fleet.caller);
  const token = input.clientToken;
  if (token !== undefined) checkClientToken("body.clientToken", token);
  const vpc = await requireVpc(fleet, input.vpcId);
  // A retry with the token answers the ACL it made; the token with another VPC is a mismatch.
  const replay = async () => {
    if (token === undefined) return null;
    const made = await fleet.db
      .select()
      .from(networkAcls)
      .where(and(eq(networkAcls.accountId, accountId), eq(networkAcls.clientToken, token)))
      .get();
    if (!made) return null;
    if (made.vpcId !== vpc.id) {
      throw new ApiError(
        400,
        "IdempotentParameterMismatch",
        `body.clientToken: the token made ${made.id} in ${made.vpcId}, not in ${vpc.id}`,
        { field: "body.clientToken" },
      );
    }
    return describeNetworkAcl(fleet, made.id);
  };
  const earlier = await replay();
  if (earlier) return earlier;
  await ensureAcls(fleet, vpc);
  const [{ n }] = await fleet.db
    .select({ n: count() })
    .from(networkAcls)
    .where(eq(networkAcls.vpcId, vpc.id));
  if (n >= MAX_NETWORK_ACLS_PER_VPC) {
    throw quotaExceeded(
      "NetworkAclLimitExceeded",
      `a VPC may have at most ${MAX_NETWORK_ACLS_PER_VPC} network ACLs`,
    );
  }
  // A custom ACL starts with no rules: the catch-all denies everything both ways.
  const row: AclRow = {
    id: newId("acl"),
    accountId: vpc.accountId,
    vpcId: vpc.id,
    isDefault: false,
    clientToken: token ?? null,
    createdAt: await fleet.now(),
  };
  try {
    await fleet.db.insert(networkAcls).values(row);
  } catch (err) {
    // A concurrent retry with the same token made it first.
    const raced = isUniqueViolation(err) ? await replay() : null;
    if (raced) return raced;
    throw err;
  }
  return aclView(row, [], []);
}

export async function describeNetworkAcl(fleet: Fleet, id: string) {
  return (await views(fleet, [await requireAcl(fleet, id)]))[0];
}

export async function listNetworkAcls(fleet: Fleet, q: { vpcId?: string; cursor?: string; limit: number }) {
  // The caller's VPCs get their default ACLs before they are listed.
  const mine = await fleet.db
    .select({ id: vpcs.id, accountId: vpcs.accountId })
    .from(vpcs)
    .where(and(ownedBy(fleet.caller, vpcs.accountId), q.vpcId ? eq(vpcs.id, q.vpcId) : undefined));
  if (fleet.caller.role === "tenant") for (const v of mine) await ensureAcls(fleet, v);
  const rows = await fleet.db
    .select()
    .from(networkAcls)
    .where(
      and(
        ownedBy(fleet.caller, networkAcls.accountId),
        q.vpcId ? eq(networkAcls.vpcId, q.vpcId) : undefined,
        q.cursor ? gt(networkAcls.id, q.cursor) : undefined,
      ),
    )
    .orderBy(asc(networkAcls.id))
    .limit(q.limit + 1);
  const { page, nextCursor } = pageOf(rows, q.limit, (r) => r.id);
  return { networkAcls: await views(fleet, page), nextCursor };
}

/** Deletes a custom ACL no subnet is associated with (EC2's DeleteNetworkAcl). */
export async function deleteNetworkAcl(fleet: Fleet, id: string) {
  creatorAccount(fleet.caller);
  const acl = await requireAcl(fleet, id);
  if (acl.isDefault) {
    throw new ApiError(
      400,
      "InvalidParameterValue",
      `${id} is its VPC's default network ACL and cannot be deleted`,
      {},
    );
  }
  const used = await fleet.db
    .select({ subnetId: networkAclAssociations.subnetId })
    .from(networkAclAssociations)
    .where(eq(networkAclAssociations.aclId, id))
    .limit(1);
  if (used.length > 0) {
    throw new ApiError(
      400,
      "DependencyViolation",
      `The network ACL '${id}' is associated with ${used[0].subnetId}; associate the subnet with another ACL first`,
      {},
    );
  }
  await fleet.db.batch([
    fleet.db.delete(networkAclEntries).where(eq(networkAclEntries.aclId, id)),
    fleet.db.delete(networkAcls).where(eq(networkAcls.id, id)),
  ]);
  return { networkAclId: id, deleted: true as const };
}

/** Adds one numbered rule (EC2's CreateNetworkAclEntry); its number must be free in its direction. */
export async function addEntry(fleet: Fleet, aclId: string, e: EntryInput) {
  creatorAccount(fleet.caller);
  const acl = await requireAcl(fleet, aclId);
  if (!Number.isInteger(e.ruleNumber) || e.ruleNumber < MIN_RULE_NUMBER || e.ruleNumber > MAX_RULE_NUMBER) {
    throw invalidParameter(
      "body.ruleNumber",
      `must be an integer from ${MIN_RULE_NUMBER} to ${MAX_RULE_NUMBER}`,
    );
  }
  const ported = e.protocol === "tcp" || e.protocol === "udp";
  const fromPort = ported ? e.fromPort : 0;
  const toPort = ported ? e.toPort : 65535;
  if (fromPort === undefined || toPort === undefined) {
    throw invalidParameter("body.fromPort", `a ${e.protocol} rule needs fromPort and toPort`);
  }
  if (fromPort > toPort) throw invalidParameter("body.fromPort", "must not exceed toPort");
  if (!parseCidr(e.cidrBlock)) {
    throw invalidParameter(
      "body.cidrBlock",
      `'${e.cidrBlock}' is not an IPv4 block such as 10.0.0.0/16 (no host bits set)`,
    );
  }
  const [{ n }] = await fleet.db
    .select({ n: count() })
    .from(networkAclEntries)
    .where(and(eq(networkAclEntries.aclId, acl.id), eq(networkAclEntries.direction, e.direction)));
  if (n >= MAX_NACL_RULES_PER_DIRECTION) {
    throw quotaExceeded(
      "NetworkAclEntryLimitExceeded",
      `a network ACL may have at most ${MAX_NACL_RULES_PER_DIRECTION} ${e.direction} rules`,
    );
  }
  try {
    await fleet.db.insert(networkAclEntries).values({
      aclId: acl.id,
      accountId: acl.accountId,
      direction: e.direction,
      ruleNumber: e.ruleNumber,
      protocol: e.protocol,
      fromPort,
      toPort,
      cidr: e.cidrBlock,
      action: e.ruleAction,
      createdAt: await fleet.now(),
    });
  } catch (err) {
    if (isUniqueViolation(err)) {
      throw new ApiError(
        400,
        "NetworkAclEntryAlreadyExists",
        `body.ruleNumber: ${acl.id} already has ${e.direction} rule ${e.ruleNumber}`,
        { field: "body.ruleNumber" },
      );
    }
    throw err;
  }
  return describeNetworkAcl(fleet, acl.id);
}

export async function removeEntry(fleet: Fleet, aclId: string, direction: Direction, ruleNumber: number) {
  creatorAccount(fleet.caller);
  const acl = await requireAcl(fleet, aclId);
  const gone = await fleet.db
    .delete(networkAclEntries)
    .where(
      and(
        eq(networkAclEntries.aclId, acl.id),
        eq(networkAclEntries.direction, direction),
        eq(networkAclEntries.ruleNumber, ruleNumber),
      ),
    )
    .returning({ n: networkAclEntries.ruleNumber });
  if (gone.length === 0) {
    throw new ApiError(
      404,
      "InvalidNetworkAclEntry.NotFound",
      `${acl.id} has no ${direction} rule ${ruleNumber}`,
      {},
    );
  }
  return describeNetworkAcl(fleet, acl.id);
}

/** The subnet's association, made with the default ACL if it has none yet. */
async function associationOf(fleet: Fleet, subnet: { id: string; vpcId: string; accountId: string }) {
  const read = () =>
    fleet.db
      .select()
      .from(networkAclAssociations)
      .where(eq(networkAclAssociations.subnetId, subnet.id))
      .get();
  const found = await read();
  if (found) return found;
  await ensureAcls(fleet, { id: subnet.vpcId, accountId: subnet.accountId });
  const made = await read();
  if (!made) throw new Error(`subnet ${subnet.id} has no network ACL association after ensuring one`);
  return made;
}

/**
 * Associates a subnet with an ACL of its VPC, replacing its association (EC2's
 * ReplaceNetworkAclAssociation gives the association a new id).
 */
export async function associateSubnet(fleet: Fleet, subnetId: string, aclId: string) {
  creatorAccount(fleet.caller);
  const subnet = await requireSubnet(fleet, subnetId);
  const acl = await requireAcl(fleet, aclId);
  if (acl.vpcId !== subnet.vpcId) {
    throw invalidParameter(
      "body.networkAclId",
      `${acl.id} is in ${acl.vpcId}, not the subnet's ${subnet.vpcId}`,
    );
  }
  await associationOf(fleet, subnet);
  const id = newId("aclassoc");
  await fleet.db
    .update(networkAclAssociations)
    .set({ id, aclId: acl.id })
    .where(eq(networkAclAssociations.subnetId, subnet.id));
  return { networkAclAssociationId: id, subnetId: subnet.id, networkAclId: acl.id };
}

/** EC2's ReplaceNetworkAclAssociation: by the association's id rather than the subnet's. */
export async function replaceAssociation(fleet: Fleet, associationId: string, aclId: string) {
  const row = await fleet.db
    .select()
    .from(networkAclAssociations)
    .where(
      and(
        eq(networkAclAssociations.id, associationId),
        ownedBy(fleet.caller, networkAclAssociations.accountId),
      ),
    )
    .get();
  if (!row) throw aclAssociationNotFound(associationId);
  return associateSubnet(fleet, row.subnetId, aclId);
}

/** The edge of each subnet as a send meets it: its ACL and that ACL's rules. */
export async function subnetEdges(
  fleet: Fleet,
  subnetIds: readonly string[],
): Promise<Map<string, SubnetEdge>> {
  const unique = [...new Set(subnetIds)];
  const rows = await fleet.db.select().from(subnets).where(inArray(subnets.id, unique));
  const assoc = await Promise.all(rows.map((s) => associationOf(fleet, s)));
  const aclIds = [...new Set(assoc.map((a) => a.aclId))];
  const entries = await fleet.db
    .select()
    .from(networkAclEntries)
    .where(inArray(networkAclEntries.aclId, aclIds));
  const out = new Map<string, SubnetEdge>();
  for (const a of assoc) {
    out.set(a.subnetId, {
      subnetId: a.subnetId,
      aclId: a.aclId,
      entries: entries
        .filter((e) => e.aclId === a.aclId)
        .map((e) => ({
          ruleNumber: e.ruleNumber,
          direction: e.direction as Direction,
          protocol: e.protocol as Protocol,
          fromPort: e.fromPort,
          toPort: e.toPort,
          cidr: parseCidr(e.cidr)!,
          action: e.action as RuleAction,
        })),
    });
  }
  return out;
}
