// Network interfaces: each instance's primary interface, in a subnet of a VPC, with a MAC
// address, a private address from the subnet and its security groups. Made at launch (a
// launch may name a subnet and groups; without them the account's default VPC, its default
// subnet in the instance's zone and the VPC's default group) and deleted, its address freed,
// when the instance terminates. An address is never held twice: the store's unique index of
// (subnet, address) refuses a second holder, and the launch reads the subnet's addresses
// again and picks anew (subnet-addresses.ts keeps them in the isolate between launches).
import { and, asc, eq, gt, inArray } from "drizzle-orm";
import { networkEvents, networkInterfaces, securityGroups } from "../db/schema";
import { usableAddresses } from "../sim/network/ip-allocator";
import { formatIp, parseCidr } from "../sim/network/ipv4";
import { macAddress } from "../sim/network/mac";
import type { Fleet } from "./context";
import { ApiError, invalidParameter } from "./errors";
import { newId } from "./ids";
import { MAX_GROUPS_PER_INTERFACE } from "./limits";
import { IN_LIST, INSERT_ATTACHED, INSERT_INTERFACES, type Statement } from "./mirror";
import { interfaceNotFound } from "./network-errors";
import { defaultNetwork, defaultSubnetIn, knownDefaultSubnet } from "./network-plan";
import { creatorAccount, ownedBy } from "./ownership";
import { pageOf } from "./paging";
import { requireGroups } from "./security-groups";
import { forgetAddresses, subnetAddresses } from "./subnet-addresses";
import { requireSubnet, type SubnetRow } from "./subnets";
import { requireVpc, type VpcRow } from "./vpcs";

export type InterfaceRow = typeof networkInterfaces.$inferSelect;

export interface NetworkChoice {
  subnetId?: string;
  securityGroupIds?: string[];
}

/** What a launch's interfaces will be: checked, and its default VPC made, before anything launches. */
export interface NetworkPlan {
  vpc: VpcRow;
  subnet: SubnetRow | null;
  groupIds: string[];
  /** The zone the subnet puts the launch in, if it names one. */
  zone: string | undefined;
}

export function interfaceView(r: InterfaceRow) {
  return {
    networkInterfaceId: r.id,
    instanceId: r.instanceId,
    subnetId: r.subnetId,
    vpcId: r.vpcId,
    availabilityZone: r.zone,
    macAddress: r.macAddress,
    privateIpAddress: r.privateIp,
    securityGroupIds: JSON.parse(r.securityGroupIds) as string[],
    status: "in-use" as const,
    createdAt: new Date(r.createdAt).toISOString(),
  };
}

export async function planNetwork(
  fleet: Fleet,
  choice: NetworkChoice,
  zone: string | undefined,
  count: number,
): Promise<NetworkPlan> {
  const accountId = creatorAccount(fleet.caller);
  let subnet: SubnetRow | null = null;
  let vpc: VpcRow;
  let defaultGroupIds: string[] | null = null;
  if (choice.subnetId !== undefined) {
    subnet = await requireSubnet(fleet, choice.subnetId);
    if (zone !== undefined && zone !== subnet.zone) {
      throw invalidParameter("body.subnetId", `${subnet.id} is in ${subnet.zone}, not ${zone}`);
    }
    vpc = await requireVpc(fleet, subnet.vpcId);
    await checkFree(fleet, subnet, count, "body.subnetId");
  } else {
    const net = await defaultNetwork(fleet, accountId);
    vpc = net.vpc;
    defaultGroupIds = net.groupIds;
    // A launch into a zone whose default subnet this isolate knows is checked before it places.
    const known = zone === undefined ? undefined : knownDefaultSubnet(fleet, accountId, zone);
    if (known) await checkFree(fleet, known, count, "body.availabilityZone");
  }
  const ids = choice.securityGroupIds ?? [];
  if (ids.length > MAX_GROUPS_PER_INTERFACE) {
    throw invalidParameter("body.securityGroupIds", `at most ${MAX_GROUPS_PER_INTERFACE} groups`);
  }
  let groupIds: string[];
  if (ids.length > 0) {
    const groups = await requireGroups(fleet, ids);
    const stray = groups.find((g) => g.vpcId !== vpc.id);
    if (stray) {
      throw invalidParameter(
        "body.securityGroupIds",
        `${stray.id} is in ${stray.vpcId}, not the launch's ${vpc.id}`,
      );
    }
    groupIds = [...new Set(ids)].sort();
  } else if (defaultGroupIds) {
    groupIds = defaultGroupIds;
  } else {
    const g = await fleet.db
      .select({ id: securityGroups.id })
      .from(securityGroups)
      .where(and(eq(securityGroups.vpcId, vpc.id), eq(securityGroups.isDefault, true)))
      .get();
    groupIds = g ? [g.id] : [];
  }
  return { vpc, subnet, groupIds, zone: subnet?.zone };
}

const noFreeAddresses = (subnet: SubnetRow, free: number, count: number, field: string) =>
  new ApiError(
    409,
    "InsufficientFreeAddressesInSubnet",
    `${subnet.id} (${subnet.cidr}) has ${free} free addresses; the launch may need ${count}`,
    { field },
  );

/** Refuses a launch of `count` that `subnet` has too few free addresses for, before anything launches. */
async function checkFree(fleet: Fleet, subnet: SubnetRow, count: number, field: string): Promise<void> {
  let view = await subnetAddresses(fleet, subnet);
  // Addresses freed elsewhere since this isolate read them count too.
  if (view.alloc.free < count && !view.read) view = await subnetAddresses(fleet, subnet, true);
  if (view.alloc.free < count) throw noFreeAddresses(subnet, view.alloc.free, count, field);
}

/** D1 binds at most 100 parameters a statement: rows of up to 11 columns go 8 to an insert. */
const ROWS_PER_INSERT = 8;
function chunks<T>(rows: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) out.push(rows.slice(i, i + ROWS_PER_INSERT));
  return out;
}

const eventRow = (type: string, r: InterfaceRow, time: number) => ({
  id: crypto.randomUUID(),
  accountId: r.accountId,
  type,
  time,
  networkInterfaceId: r.id,
  instanceId: r.instanceId,
  privateIp: r.privateIp,
});

/** The interfaces of a launch, made but not stored yet, and the subnets their addresses came from. */
export interface Interfaces {
  rows: InterfaceRow[];
  statements: Statement[];
  subnetIds: Set<string>;
}

/**
 * Makes the interfaces of `launched` (their addresses taken from the isolate's view of each
 * subnet) and the statements that store them with their events, for the launch's own D1
 * batch. `fresh` reads the subnets' addresses again (after a store refused one). A subnet
 * with too few addresses left is a 409; the addresses taken before it are given back to
 * the view by forgetting it.
 */
export async function makeInterfaces(
  fleet: Fleet,
  plan: NetworkPlan,
  launched: readonly { instanceId: string; zone: string }[],
  fresh: boolean,
): Promise<Interfaces> {
  const out: Interfaces = { rows: [], statements: [], subnetIds: new Set() };
  if (launched.length === 0) return out;
  const byZone = new Map<string, string[]>();
  for (const i of launched) byZone.set(i.zone, [...(byZone.get(i.zone) ?? []), i.instanceId]);
  const now = await fleet.now();
  try {
    for (const [zone, ids] of byZone) {
      const subnet = plan.subnet ?? (await defaultSubnetIn(fleet, plan.vpc, zone));
      out.subnetIds.add(subnet.id);
      let view = await subnetAddresses(fleet, subnet, fresh);
      if (view.alloc.free < ids.length && !view.read) view = await subnetAddresses(fleet, subnet, true);
      if (view.alloc.free < ids.length) {
        throw noFreeAddresses(
          subnet,
          view.alloc.free,
          ids.length,
          plan.subnet ? "body.subnetId" : "body.availabilityZone",
        );
      }
      const cidr = parseCidr(subnet.cidr)!;
      // A store that lost an address to another isolate tries again from a random point, so
      // that racing isolates stop picking the same addresses.
      const from = fresh ? crypto.getRandomValues(new Uint32Array(1))[0] % usableAddresses(cidr) : 0;
      for (const instanceId of ids) {
        const ip = view.alloc.allocate(from)!;
        out.rows.push({
          id: newId("eni"),
          accountId: subnet.accountId,
          subnetId: subnet.id,
          vpcId: plan.vpc.id,
          zone: subnet.zone,
          instanceId,
          macAddress: macAddress(crypto.getRandomValues(new Uint8Array(6))),
          privateIp: formatIp(ip),
          ip,
          securityGroupIds: JSON.stringify(plan.groupIds),
          createdAt: now,
        });
      }
    }
  } catch (err) {
    forgetAddresses(fleet.env.DB, out.subnetIds);
    throw err;
  }
  // One statement each, the rows as one JSON parameter (a launch's at most 100 interfaces
  // are some 30 KB): no query to build per launch, and two statements for D1 to run.
  const evs = out.rows.map((r) => eventRow("network-interface.attached", r, now));
  out.statements.push(
    { sql: INSERT_INTERFACES, params: [JSON.stringify(out.rows)] },
    { sql: INSERT_ATTACHED, params: [JSON.stringify(evs)] },
  );
  return out;
}

/** Deletes the interfaces of `instanceIds` and frees their addresses, once (a second call finds none). */
export async function releaseNetwork(fleet: Fleet, instanceIds: readonly string[]): Promise<number> {
  if (instanceIds.length > IN_LIST) {
    let n = 0;
    for (let at = 0; at < instanceIds.length; at += IN_LIST) {
      n += await releaseNetwork(fleet, instanceIds.slice(at, at + IN_LIST));
    }
    return n;
  }
  if (instanceIds.length === 0) return 0;
  const gone = await fleet.db
    .delete(networkInterfaces)
    .where(inArray(networkInterfaces.instanceId, [...instanceIds]))
    .returning();
  if (gone.length > 0) {
    forgetAddresses(fleet.env.DB, new Set(gone.map((r) => r.subnetId)));
    const now = await fleet.now();
    const evs = gone.map((r) => eventRow("network-interface.released", r, now));
    const [first, ...rest] = chunks(evs).map((c) => fleet.db.insert(networkEvents).values(c));
    await fleet.db.batch([first, ...rest]);
  }
  return gone.length;
}

export async function requireInterface(fleet: Fleet, id: string): Promise<InterfaceRow> {
  const row = await fleet.db
    .select()
    .from(networkInterfaces)
    .where(and(eq(networkInterfaces.id, id), ownedBy(fleet.caller, networkInterfaces.accountId)))
    .get();
  if (!row) throw interfaceNotFound(id);
  return row;
}

export async function interfaceOf(fleet: Fleet, instanceId: string): Promise<InterfaceRow | undefined> {
  return fleet.db.select().from(networkInterfaces).where(eq(networkInterfaces.instanceId, instanceId)).get();
}

export async function describeInterface(fleet: Fleet, id: string) {
  return interfaceView(await requireInterface(fleet, id));
}

export async function listInterfaces(
  fleet: Fleet,
  q: { instanceId?: string; subnetId?: string; vpcId?: string; cursor?: string; limit: number },
) {
  const rows = await fleet.db
    .select()
    .from(networkInterfaces)
    .where(
      and(
        ownedBy(fleet.caller, networkInterfaces.accountId),
        q.instanceId ? eq(networkInterfaces.instanceId, q.instanceId) : undefined,
        q.subnetId ? eq(networkInterfaces.subnetId, q.subnetId) : undefined,
        q.vpcId ? eq(networkInterfaces.vpcId, q.vpcId) : undefined,
        q.cursor ? gt(networkInterfaces.id, q.cursor) : undefined,
      ),
    )
    .orderBy(asc(networkInterfaces.id))
    .limit(q.limit + 1);
  const { page, nextCursor } = pageOf(rows, q.limit, (r) => r.id);
  return { networkInterfaces: page.map(interfaceView), nextCursor };
}
