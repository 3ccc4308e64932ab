// VPCs: an account's private networks, each a CIDR block and a segment id (VNI) that its
// frames carry across the physical network. Every account has a default VPC, made on first
// need as EC2 makes one per Region: 172.31.0.0/16 (Amazon VPC user guide, "Default VPCs").
import { and, asc, count, eq, gt } from "drizzle-orm";
import { securityGroupRules, securityGroups, vpcs } from "../db/schema";
import { MAX_PREFIX, MIN_PREFIX, parseCidr } from "../sim/network/ipv4";
import { MAX_VNI } from "../sim/network/vswitch";
import type { Fleet } from "./context";
import { invalidParameter } from "./errors";
import { newId } from "./ids";
import { MAX_VPCS_PER_ACCOUNT } from "./limits";
import { isUniqueViolation, quotaExceeded, vpcNotFound } from "./network-errors";
import { creatorAccount, ownedBy } from "./ownership";
import { pageOf } from "./paging";

export const DEFAULT_VPC_CIDR = "172.31.0.0/16";

export type VpcRow = typeof vpcs.$inferSelect;

export function vpcView(r: VpcRow) {
  return {
    vpcId: r.id,
    cidrBlock: r.cidr,
    vni: r.vni,
    isDefault: r.isDefault,
    createdAt: new Date(r.createdAt).toISOString(),
  };
}

export function checkBlock(field: string, text: string) {
  const c = parseCidr(text);
  if (!c)
    throw invalidParameter(field, `'${text}' is not an IPv4 block such as 10.0.0.0/16 (no host bits set)`);
  if (c.prefix < MIN_PREFIX || c.prefix > MAX_PREFIX) {
    throw invalidParameter(field, `a block must be a /${MIN_PREFIX} to a /${MAX_PREFIX}, not a /${c.prefix}`);
  }
  return c;
}

/** A random 24-bit segment id; the unique index refuses a taken one and the insert tries again. */
function randomVni(): number {
  const [a] = crypto.getRandomValues(new Uint32Array(1));
  return 1 + (a % MAX_VNI);
}

async function insertVpc(fleet: Fleet, accountId: string, cidr: string, isDefault: boolean) {
  const now = await fleet.now();
  for (let attempt = 0; ; attempt++) {
    const row: VpcRow = { id: newId("vpc"), accountId, cidr, vni: randomVni(), isDefault, createdAt: now };
    const groupId = newId("sg");
    try {
      // The VPC and its default security group together: members reach each other, and anything outward.
      const db = fleet.db;
      await db.batch([
        db.insert(vpcs).values(row),
        db.insert(securityGroups).values({
          id: groupId,
          accountId,
          vpcId: row.id,
          name: "default",
          description: "default VPC security group",
          isDefault: true,
          createdAt: now,
        }),
        db.insert(securityGroupRules).values([
          {
            id: newId("sgr"),
            accountId,
            groupId,
            direction: "ingress",
            protocol: "all",
            fromPort: 0,
            toPort: 65535,
            cidr: null,
            peerGroupId: groupId,
            createdAt: now,
          },
          allOutbound(accountId, groupId, now),
        ]),
      ]);
      return row;
    } catch (err) {
      // A default VPC another request made first is the one to use; a taken VNI, draw again.
      if (!isUniqueViolation(err) || attempt >= 4) throw err;
      if (isDefault) {
        const existing = await fleet.db
          .select()
          .from(vpcs)
          .where(and(eq(vpcs.accountId, accountId), eq(vpcs.isDefault, true)))
          .get();
        if (existing) return existing;
      }
    }
  }
}

/** EC2 gives every new security group one rule: all traffic out, anywhere. */
export function allOutbound(accountId: string, groupId: string, now: number) {
  return {
    id: newId("sgr"),
    accountId,
    groupId,
    direction: "egress",
    protocol: "all",
    fromPort: 0,
    toPort: 65535,
    cidr: "0.0.0.0/0",
    peerGroupId: null,
    createdAt: now,
  };
}

export async function createVpc(fleet: Fleet, input: { cidrBlock: string }) {
  const accountId = creatorAccount(fleet.caller);
  checkBlock("body.cidrBlock", input.cidrBlock);
  const [{ n }] = await fleet.db.select({ n: count() }).from(vpcs).where(eq(vpcs.accountId, accountId));
  if (n >= MAX_VPCS_PER_ACCOUNT) {
    throw quotaExceeded("VpcLimitExceeded", `an account may have at most ${MAX_VPCS_PER_ACCOUNT} VPCs`);
  }
  return vpcView(await insertVpc(fleet, accountId, input.cidrBlock, false));
}

/** The account's default VPC, made now if it has none. */
export async function defaultVpc(fleet: Fleet, accountId: string): Promise<VpcRow> {
  const existing = await fleet.db
    .select()
    .from(vpcs)
    .where(and(eq(vpcs.accountId, accountId), eq(vpcs.isDefault, true)))
    .get();
  return existing ?? insertVpc(fleet, accountId, DEFAULT_VPC_CIDR, true);
}

export async function requireVpc(fleet: Fleet, id: string): Promise<VpcRow> {
  const row = await fleet.db
    .select()
    .from(vpcs)
    .where(and(eq(vpcs.id, id), ownedBy(fleet.caller, vpcs.accountId)))
    .get();
  if (!row) throw vpcNotFound(id);
  return row;
}

export async function describeVpc(fleet: Fleet, id: string) {
  return vpcView(await requireVpc(fleet, id));
}

export async function listVpcs(fleet: Fleet, q: { cursor?: string; limit: number }) {
  const rows = await fleet.db
    .select()
    .from(vpcs)
    .where(and(ownedBy(fleet.caller, vpcs.accountId), q.cursor ? gt(vpcs.id, q.cursor) : undefined))
    .orderBy(asc(vpcs.id))
    .limit(q.limit + 1);
  const { page, nextCursor } = pageOf(rows, q.limit, (r) => r.id);
  return { vpcs: page.map(vpcView), nextCursor };
}
