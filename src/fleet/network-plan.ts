// What a launch into the default network needs, kept in the isolate like the placement
// candidates (candidates.ts): the account's default VPC, its default security group and its
// default subnet of each zone. They are made once and never deleted or moved (no route
// deletes a VPC, a subnet or a default group), so a view can only lack what another isolate
// made since: a missing subnet is read from D1, or made, where its unique index of (VPC, zone)
// for default subnets is the judge. A view is read again after NETWORK_PLAN_TTL_MS all the same.
import { and, eq } from "drizzle-orm";
import { securityGroups } from "../db/schema";
import type { Fleet } from "./context";
import { isolateViews } from "./isolate-views";
import { defaultSubnet, type SubnetRow } from "./subnets";
import { defaultVpc, type VpcRow } from "./vpcs";

export const NETWORK_PLAN_TTL_MS = 60_000;

export interface DefaultNetwork {
  vpc: VpcRow;
  /** The VPC's default group, which an interface joins when the launch names none. */
  groupIds: string[];
}

interface View extends DefaultNetwork {
  readAt: number;
  subnets: Map<string, SubnetRow>;
}

/** Per D1 database, per account. */
const views = isolateViews<View>();
const viewsOf = views.of;

async function viewOf(fleet: Fleet, accountId: string): Promise<View> {
  const all = viewsOf(fleet.env.DB);
  const cached = all.get(accountId);
  if (cached && Date.now() - cached.readAt < NETWORK_PLAN_TTL_MS) return cached;
  const vpc = await defaultVpc(fleet, accountId);
  const g = await fleet.db
    .select({ id: securityGroups.id })
    .from(securityGroups)
    .where(and(eq(securityGroups.vpcId, vpc.id), eq(securityGroups.isDefault, true)))
    .get();
  const view: View = { vpc, groupIds: g ? [g.id] : [], readAt: Date.now(), subnets: new Map() };
  all.set(accountId, view);
  return view;
}

/** The account's default VPC and its default group, made now if it has none. */
export async function defaultNetwork(fleet: Fleet, accountId: string): Promise<DefaultNetwork> {
  const v = await viewOf(fleet, accountId);
  return { vpc: v.vpc, groupIds: v.groupIds };
}

/** The default subnet of the account's default VPC in `zone`, if this isolate knows it. */
export function knownDefaultSubnet(fleet: Fleet, accountId: string, zone: string): SubnetRow | undefined {
  return viewsOf(fleet.env.DB).get(accountId)?.subnets.get(zone);
}

/** The default subnet of `vpc` in `zone`, made now if there is none. */
export async function defaultSubnetIn(fleet: Fleet, vpc: VpcRow, zone: string): Promise<SubnetRow> {
  const v = await viewOf(fleet, vpc.accountId);
  const known = v.vpc.id === vpc.id ? v.subnets.get(zone) : undefined;
  if (known) return known;
  const subnet = await defaultSubnet(fleet, vpc, zone);
  if (v.vpc.id === vpc.id) v.subnets.set(zone, subnet);
  return subnet;
}
