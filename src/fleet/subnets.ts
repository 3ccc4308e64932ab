// Subnets: a block of a VPC in one zone, from which network interfaces take their addresses.
// A default VPC has a default subnet per zone, a /20 as EC2 makes them (172.31.0.0/20,
// 172.31.16.0/20, ...), made here the first time an instance of the account lands in the zone.
// A /16 holds sixteen /20s, enough for a Region (the largest, us-east-1, has six zones: AWS,
// "Regions and Zones"), but a simulated fleet may have many more zones: the first eight take
// EC2's /20s from the VPC's lower half, every later zone a /24 of the upper half (128 more).
import { and, asc, count, eq, gt, inArray } from "drizzle-orm";
import { networkInterfaces, subnets } from "../db/schema";
import { usableAddresses } from "../sim/network/ip-allocator";
import { blockSize, type Cidr, formatCidr, overlaps, parseCidr, within } from "../sim/network/ipv4";
import type { Fleet } from "./context";
import { ApiError, invalidParameter } from "./errors";
import { newId } from "./ids";
import { checkZone, MAX_SUBNETS_PER_VPC } from "./limits";
import { IN_LIST } from "./mirror";
import { isUniqueViolation, quotaExceeded, subnetNotFound } from "./network-errors";
import { creatorAccount, ownedBy } from "./ownership";
import { pageOf } from "./paging";
import { checkBlock, requireVpc, type VpcRow } from "./vpcs";

export type SubnetRow = typeof subnets.$inferSelect;

const DEFAULT_SUBNET_PREFIX = 20;
/** The default subnet of a zone beyond the first eight: 251 addresses. */
const SMALL_DEFAULT_SUBNET_PREFIX = 24;

function viewOf(r: SubnetRow, held: number) {
  return {
    subnetId: r.id,
    vpcId: r.vpcId,
    availabilityZone: r.zone,
    cidrBlock: r.cidr,
    availableIpAddressCount: usableAddresses(parseCidr(r.cidr)!) - held,
    isDefault: r.isDefault,
    createdAt: new Date(r.createdAt).toISOString(),
  };
}

/** Subnets as the API shows them, with the addresses each has free: one count query for them all. */
async function subnetViews(fleet: Fleet, rows: readonly SubnetRow[]) {
  if (rows.length === 0) return [];
  const counts: { subnetId: string; n: number }[] = [];
  for (let at = 0; at < rows.length; at += IN_LIST) {
    const ids = rows.slice(at, at + IN_LIST).map((r) => r.id);
    counts.push(
      ...(await fleet.db
        .select({ subnetId: networkInterfaces.subnetId, n: count() })
        .from(networkInterfaces)
        .where(inArray(networkInterfaces.subnetId, ids))
        .groupBy(networkInterfaces.subnetId)),
    );
  }
  const held = new Map(counts.map((c) => [c.subnetId, c.n]));
  return rows.map((r) => viewOf(r, held.get(r.id) ?? 0));
}

export async function subnetView(fleet: Fleet, r: SubnetRow) {
  return (await subnetViews(fleet, [r]))[0];
}

async function subnetsOf(fleet: Fleet, vpcId: string): Promise<SubnetRow[]> {
  return fleet.db.select().from(subnets).where(eq(subnets.vpcId, vpcId));
}

export async function createSubnet(
  fleet: Fleet,
  input: { vpcId: string; cidrBlock: string; availabilityZone: string },
) {
  creatorAccount(fleet.caller);
  const vpc = await requireVpc(fleet, input.vpcId);
  const block = checkBlock("body.cidrBlock", input.cidrBlock);
  checkZone("body.availabilityZone", input.availabilityZone);
  if (!within(block, parseCidr(vpc.cidr)!)) {
    throw invalidParameter("body.cidrBlock", `${input.cidrBlock} is not within the VPC's ${vpc.cidr}`);
  }
  const existing = await subnetsOf(fleet, vpc.id);
  if (existing.length >= MAX_SUBNETS_PER_VPC) {
    throw quotaExceeded("SubnetLimitExceeded", `a VPC may have at most ${MAX_SUBNETS_PER_VPC} subnets`);
  }
  const clash = existing.find((s) => overlaps(parseCidr(s.cidr)!, block));
  if (clash) {
    throw new ApiError(
      400,
      "InvalidSubnet.Conflict",
      `body.cidrBlock: ${input.cidrBlock} overlaps ${clash.id} (${clash.cidr})`,
      { field: "body.cidrBlock" },
    );
  }
  const row: SubnetRow = {
    id: newId("subnet"),
    accountId: vpc.accountId,
    vpcId: vpc.id,
    zone: input.availabilityZone,
    cidr: input.cidrBlock,
    isDefault: false,
    createdAt: await fleet.now(),
  };
  await fleet.db.insert(subnets).values(row);
  return subnetView(fleet, row);
}

/** The first block of `prefix` bits within `range` that no block of `taken` overlaps. */
function freeBlock(range: Cidr, prefix: number, taken: readonly Cidr[]): Cidr | null {
  if (prefix < range.prefix) return null;
  const step = 2 ** (32 - prefix);
  for (let base = range.base; base + step <= range.base + blockSize(range); base += step) {
    const c = { base, prefix };
    if (!taken.some((t) => overlaps(t, c))) return c;
  }
  return null;
}

/** A /20 of the VPC's lower half while there is one (EC2's layout), else a /24 anywhere in it. */
export function freeDefaultBlock(vpc: Cidr, taken: readonly Cidr[]): Cidr | null {
  const lowerHalf = { base: vpc.base, prefix: vpc.prefix + 1 };
  return (
    freeBlock(lowerHalf, DEFAULT_SUBNET_PREFIX, taken) ?? freeBlock(vpc, SMALL_DEFAULT_SUBNET_PREFIX, taken)
  );
}

/** How often a default-subnet insert that lost a race reads again before giving up. */
const DEFAULT_SUBNET_RACE_RETRIES = 32;

/** The default subnet of `vpc` in `zone`, made now if there is none. */
export async function defaultSubnet(fleet: Fleet, vpc: VpcRow, zone: string): Promise<SubnetRow> {
  for (let attempt = 0; ; attempt++) {
    const existing = await subnetsOf(fleet, vpc.id);
    const found = existing.find((s) => s.isDefault && s.zone === zone);
    if (found) return found;
    const block = freeDefaultBlock(
      parseCidr(vpc.cidr)!,
      existing.map((s) => parseCidr(s.cidr)!),
    );
    if (!block) {
      throw quotaExceeded(
        "InsufficientFreeAddressesInSubnet",
        `${vpc.id} (${vpc.cidr}) has no free block left for a default subnet in ${zone}`,
      );
    }
    const row: SubnetRow = {
      id: newId("subnet"),
      accountId: vpc.accountId,
      vpcId: vpc.id,
      zone,
      cidr: formatCidr(block),
      isDefault: true,
      createdAt: await fleet.now(),
    };
    try {
      await fleet.db.insert(subnets).values(row);
      return row;
    } catch (err) {
      // Another launch made this zone's default subnet, or took this block for another zone's,
      // first: read again. Each retry means a concurrent launch made progress, so launches into
      // many new zones at once all finish; the bound only stops a loop that cannot.
      if (!isUniqueViolation(err) || attempt >= DEFAULT_SUBNET_RACE_RETRIES) throw err;
    }
  }
}

export async function requireSubnet(fleet: Fleet, id: string): Promise<SubnetRow> {
  const row = await fleet.db
    .select()
    .from(subnets)
    .where(and(eq(subnets.id, id), ownedBy(fleet.caller, subnets.accountId)))
    .get();
  if (!row) throw subnetNotFound(id);
  return row;
}

export async function describeSubnet(fleet: Fleet, id: string) {
  return subnetView(fleet, await requireSubnet(fleet, id));
}

export async function listSubnets(fleet: Fleet, q: { vpcId?: string; cursor?: string; limit: number }) {
  const rows = await fleet.db
    .select()
    .from(subnets)
    .where(
      and(
        ownedBy(fleet.caller, subnets.accountId),
        q.vpcId ? eq(subnets.vpcId, q.vpcId) : undefined,
        q.cursor ? gt(subnets.id, q.cursor) : undefined,
      ),
    )
    .orderBy(asc(subnets.id))
    .limit(q.limit + 1);
  const { page, nextCursor } = pageOf(rows, q.limit, (r) => r.id);
  return { subnets: await subnetViews(fleet, page), nextCursor };
}
