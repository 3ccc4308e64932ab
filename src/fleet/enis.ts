// Network interfaces: each instance's primary interface, in a subnet of a VPC, with a MAC
// address, a private address from the subnet and its security groups. Made at launch (a
// launch may name a subnet and groups; without them the account's default VPC, its default
// subnet in the instance's zone and the VPC's default group) and deleted, its address freed,
// when the instance terminates. An address is never held twice: the store's unique index of
// (subnet, address) refuses a second holder, and the allocator then picks again.
import { and, asc, eq, gt, inArray } from "drizzle-orm";
import { networkEvents, networkInterfaces, securityGroups } from "../db/schema";
import { IpAllocator, usableAddresses } from "../sim/network/ip-allocator";
import { formatIp, parseCidr } from "../sim/network/ipv4";
import { macAddress } from "../sim/network/mac";
import type { Fleet } from "./context";
import { ApiError, invalidParameter } from "./errors";
import { newId } from "./ids";
import { MAX_GROUPS_PER_INTERFACE } from "./limits";
import { IN_LIST } from "./mirror";
import { interfaceNotFound, isUniqueViolation } from "./network-errors";
import { creatorAccount, ownedBy } from "./ownership";
import { pageOf } from "./paging";
import { requireGroups } from "./security-groups";
import { defaultSubnet, requireSubnet, type SubnetRow } from "./subnets";
import { defaultVpc, requireVpc, type VpcRow } from "./vpcs";

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
  if (choice.subnetId !== undefined) {
    subnet = await requireSubnet(fleet, choice.subnetId);
    if (zone !== undefined && zone !== subnet.zone) {
      throw invalidParameter("body.subnetId", `${subnet.id} is in ${subnet.zone}, not ${zone}`);
    }
    vpc = await requireVpc(fleet, subnet.vpcId);
    const held = await fleet.db.$count(networkInterfaces, eq(networkInterfaces.subnetId, subnet.id));
    const free = usableAddresses(parseCidr(subnet.cidr)!) - held;
    if (free < count) {
      throw new ApiError(
        409,
        "InsufficientFreeAddressesInSubnet",
        `${subnet.id} (${subnet.cidr}) has ${free} free addresses; the launch may need ${count}`,
        { field: "body.subnetId" },
      );
    }
  } else {
    vpc = await defaultVpc(fleet, accountId);
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

/** Takes addresses of `subnet` for `instanceIds` and stores their interfaces, with their events. */
async function allocateIn(fleet: Fleet, plan: NetworkPlan, subnet: SubnetRow, instanceIds: string[]) {
  const cidr = parseCidr(subnet.cidr)!;
  for (let attempt = 0; ; attempt++) {
    const held = await fleet.db
      .select({ ip: networkInterfaces.ip })
      .from(networkInterfaces)
      .where(eq(networkInterfaces.subnetId, subnet.id));
    const alloc = new IpAllocator(
      cidr,
      held.map((h) => h.ip),
    );
    const now = await fleet.now();
    const rows: InterfaceRow[] = [];
    // The first try takes the lowest free addresses; after losing a race, from a random point.
    const from = attempt === 0 ? 0 : crypto.getRandomValues(new Uint32Array(1))[0] % usableAddresses(cidr);
    for (const instanceId of instanceIds) {
      const ip = alloc.allocate(from);
      if (ip === null) throw new Error(`${subnet.id} has no free address left`);
      rows.push({
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
    if (rows.length === 0) return [];
    try {
      const evs = rows.map((r) => eventRow("network-interface.attached", r, now));
      const [first, ...rest] = [
        ...chunks(rows).map((c) => fleet.db.insert(networkInterfaces).values(c)),
        ...chunks(evs).map((c) => fleet.db.insert(networkEvents).values(c)),
      ];
      await fleet.db.batch([first, ...rest]);
      return rows;
    } catch (err) {
      // Another launch took one of these addresses first: read the subnet again and pick anew.
      if (!isUniqueViolation(err) || attempt >= 9) throw err;
    }
  }
}

/**
 * Gives each launched instance its interface. The instances are launched already, so a
 * failure here is logged, not thrown: the instance runs without an interface until the
 * repair path (network-reconcile.ts) reports it.
 */
export async function attachNetwork(
  fleet: Fleet,
  plan: NetworkPlan,
  launched: readonly { instanceId: string; zone: string }[],
): Promise<void> {
  const byZone = new Map<string, string[]>();
  for (const i of launched) byZone.set(i.zone, [...(byZone.get(i.zone) ?? []), i.instanceId]);
  for (const [zone, ids] of byZone) {
    try {
      const subnet = plan.subnet ?? (await defaultSubnet(fleet, plan.vpc, zone));
      await allocateIn(fleet, plan, subnet, ids);
    } catch (err) {
      console.warn("attaching network interfaces failed; the instances run without them", err);
    }
  }
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
