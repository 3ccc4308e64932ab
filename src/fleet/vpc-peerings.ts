// VPC peering: a route between two VPCs of one account, both ways, so their instances reach
// each other by private address. EC2 refuses to peer VPCs whose blocks overlap (an address
// would be ambiguous), and so does this. Peering across accounts is not modelled.
import { and, asc, count, eq, gt, or } from "drizzle-orm";
import { vpcPeerings, vpcs } from "../db/schema";
import { overlaps, parseCidr } from "../sim/network/ipv4";
import type { Peering } from "../sim/network/routing";
import type { Fleet } from "./context";
import { ApiError, invalidParameter } from "./errors";
import { newId } from "./ids";
import { MAX_PEERINGS_PER_VPC } from "./limits";
import { isUniqueViolation, peeringNotFound, quotaExceeded } from "./network-errors";
import { creatorAccount, ownedBy } from "./ownership";
import { pageOf } from "./paging";
import { requireVpc, type VpcRow } from "./vpcs";

type PeeringRow = typeof vpcPeerings.$inferSelect;

function peeringView(r: PeeringRow) {
  return {
    vpcPeeringConnectionId: r.id,
    requesterVpcId: r.requesterVpcId,
    accepterVpcId: r.accepterVpcId,
    status: "active" as const,
    createdAt: new Date(r.createdAt).toISOString(),
  };
}

const involving = (vpcId: string) =>
  or(eq(vpcPeerings.requesterVpcId, vpcId), eq(vpcPeerings.accepterVpcId, vpcId));

export async function createPeering(fleet: Fleet, input: { vpcId: string; peerVpcId: string }) {
  const accountId = creatorAccount(fleet.caller);
  if (input.vpcId === input.peerVpcId)
    throw invalidParameter("body.peerVpcId", "a VPC cannot peer with itself");
  const a = await requireVpc(fleet, input.vpcId);
  const b = await requireVpc(fleet, input.peerVpcId);
  if (overlaps(parseCidr(a.cidr)!, parseCidr(b.cidr)!)) {
    throw new ApiError(
      400,
      "InvalidVpcPeeringConnection.Overlap",
      `body.peerVpcId: ${b.id} (${b.cidr}) overlaps ${a.id} (${a.cidr}); peered VPCs may not overlap`,
      { field: "body.peerVpcId" },
    );
  }
  for (const v of [a, b]) {
    const [{ n }] = await fleet.db.select({ n: count() }).from(vpcPeerings).where(involving(v.id));
    if (n >= MAX_PEERINGS_PER_VPC) {
      throw quotaExceeded(
        "VpcPeeringConnectionLimitExceeded",
        `${v.id} has ${MAX_PEERINGS_PER_VPC} peerings already`,
      );
    }
  }
  // One row per pair, whichever side asked: the pair is stored in order.
  const [lo, hi] = a.id < b.id ? [a, b] : [b, a];
  const existing = await fleet.db
    .select()
    .from(vpcPeerings)
    .where(and(eq(vpcPeerings.requesterVpcId, lo.id), eq(vpcPeerings.accepterVpcId, hi.id)))
    .get();
  if (existing) return peeringView(existing);
  const row: PeeringRow = {
    id: newId("pcx"),
    accountId,
    requesterVpcId: lo.id,
    accepterVpcId: hi.id,
    createdAt: await fleet.now(),
  };
  try {
    await fleet.db.insert(vpcPeerings).values(row);
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    const won = await fleet.db
      .select()
      .from(vpcPeerings)
      .where(and(eq(vpcPeerings.requesterVpcId, lo.id), eq(vpcPeerings.accepterVpcId, hi.id)))
      .get();
    if (won) return peeringView(won);
    throw err;
  }
  return peeringView(row);
}

export async function deletePeering(fleet: Fleet, id: string) {
  creatorAccount(fleet.caller);
  const gone = await fleet.db
    .delete(vpcPeerings)
    .where(and(eq(vpcPeerings.id, id), ownedBy(fleet.caller, vpcPeerings.accountId)))
    .returning();
  if (gone.length === 0) throw peeringNotFound(id);
  return { ...peeringView(gone[0]), status: "deleted" as const };
}

export async function listPeerings(fleet: Fleet, q: { cursor?: string; limit: number }) {
  const rows = await fleet.db
    .select()
    .from(vpcPeerings)
    .where(
      and(ownedBy(fleet.caller, vpcPeerings.accountId), q.cursor ? gt(vpcPeerings.id, q.cursor) : undefined),
    )
    .orderBy(asc(vpcPeerings.id))
    .limit(q.limit + 1);
  const { page, nextCursor } = pageOf(rows, q.limit, (r) => r.id);
  return { vpcPeeringConnections: page.map(peeringView), nextCursor };
}

/** The VPCs peered with `vpc`, as its route table's routes. */
export async function peersOf(fleet: Fleet, vpc: VpcRow): Promise<Peering[]> {
  const rows = await fleet.db.select().from(vpcPeerings).where(involving(vpc.id));
  const out: Peering[] = [];
  for (const r of rows) {
    const otherId = r.requesterVpcId === vpc.id ? r.accepterVpcId : r.requesterVpcId;
    const other = await fleet.db.select().from(vpcs).where(eq(vpcs.id, otherId)).get();
    if (other)
      out.push({ peeringId: r.id, vpc: { vpcId: other.id, cidr: parseCidr(other.cidr)!, vni: other.vni } });
  }
  return out;
}
