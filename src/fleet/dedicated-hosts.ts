// Dedicated Hosts (EC2's AllocateHosts, DescribeHosts, ReleaseHosts): an account takes empty fleet hosts
// of a family in a zone as its own. Its instances launched for a dedicated host (tenancy "host", or a
// host id) are placed on them by the fleet's one placement, and no other account's instance ever is: the
// host object refuses them (host/tenancy.ts), and shared placement does not offer them the host
// (candidates.ts). With auto-placement on, a launch for a dedicated host that names none may land on it;
// off, only a launch naming its id does.
import { and, asc, eq, gt, inArray, notExists, sql } from "drizzle-orm";
import { dedicatedHosts, hostAttestations, hosts, instances } from "../db/schema";
import { FAMILIES, type Family, findInstanceType, type InstanceType } from "../sim/catalog";
import type { InstanceState } from "../sim/lifecycle";
import type { Candidate } from "./candidates";
import { forgetCandidates } from "./candidates";
import type { Fleet } from "./context";
import { ApiError, invalidParameter } from "./errors";
import { checkClientToken, checkZone, DEDICATED_HOSTS_PER_CALL_MAX } from "./limits";
import { creatorAccount, ownedBy } from "./ownership";
import { pageOf } from "./paging";
import { keepToken, lostTokenRace, tokenFor, tokenResource } from "./resource-tokens";

export type AutoPlacement = "on" | "off";

export interface AllocateHostsInput {
  availabilityZone: string;
  instanceFamily?: string;
  instanceType?: string;
  quantity: number;
  autoPlacement: AutoPlacement;
  clientToken?: string;
}

export const dedicatedHostNotFound = (id: string) =>
  new ApiError(404, "InvalidHostID.NotFound", `The dedicated host '${id}' does not exist`, {
    field: "hostId",
  });

const iso = (ms: number) => new Date(ms).toISOString();

/** The host a launch named, or the family a request names by family or type. */
function familyOf(input: { instanceFamily?: string; instanceType?: string }): Family {
  if ((input.instanceFamily === undefined) === (input.instanceType === undefined)) {
    throw invalidParameter("body.instanceFamily", "give exactly one of instanceFamily and instanceType");
  }
  if (input.instanceType !== undefined) {
    const t = findInstanceType(input.instanceType);
    if (!t)
      throw invalidParameter("body.instanceType", `'${input.instanceType}' is not a known instance type`);
    return t.family;
  }
  const f = input.instanceFamily as Family;
  if (!FAMILIES.includes(f)) {
    throw invalidParameter("body.instanceFamily", `must be one of ${FAMILIES.join(", ")}`);
  }
  return f;
}

/** Empty, available, attested hosts of the family in the zone that no account has taken. */
async function freeHosts(fleet: Fleet, family: Family, zone: string): Promise<string[]> {
  const rows = await fleet.db
    .select({ id: hosts.id })
    .from(hosts)
    .where(
      and(
        eq(hosts.family, family),
        eq(hosts.zone, zone),
        eq(hosts.state, "available"),
        eq(hosts.vmCount, 0),
        notExists(
          fleet.db
            .select({ one: dedicatedHosts.hostId })
            .from(dedicatedHosts)
            .where(eq(dedicatedHosts.hostId, hosts.id)),
        ),
        notExists(
          fleet.db
            .select({ one: hostAttestations.hostId })
            .from(hostAttestations)
            .where(and(eq(hostAttestations.hostId, hosts.id), eq(hostAttestations.status, "quarantined"))),
        ),
      ),
    )
    .orderBy(asc(hosts.id))
    .limit(DEDICATED_HOSTS_PER_CALL_MAX * 4);
  return rows.map((r) => r.id);
}

/** Gives a host back to the shared fleet: its object first, then the inventory. */
async function giveBack(fleet: Fleet, accountId: string, hostId: string): Promise<void> {
  const r = await fleet.host(hostId).undedicate(accountId, await fleet.clock());
  if (r.result === "released") {
    await fleet.db
      .delete(dedicatedHosts)
      .where(and(eq(dedicatedHosts.hostId, hostId), eq(dedicatedHosts.accountId, accountId)));
  }
}

async function viewsOf(fleet: Fleet, ids: readonly string[]) {
  if (ids.length === 0) return [];
  const rows = await fleet.db
    .select({ d: dedicatedHosts, h: hosts })
    .from(dedicatedHosts)
    .innerJoin(hosts, eq(hosts.id, dedicatedHosts.hostId))
    .where(inArray(dedicatedHosts.hostId, [...ids]))
    .orderBy(asc(dedicatedHosts.hostId));
  const on = await fleet.db
    .select({
      id: instances.id,
      hostId: instances.hostId,
      instanceType: instances.instanceType,
      state: instances.state,
    })
    .from(instances)
    .where(and(inArray(instances.hostId, [...ids]), sql`${instances.state} <> 'terminated'`))
    .orderBy(asc(instances.id));
  return rows.map(({ d, h }) => ({
    hostId: d.hostId,
    accountId: d.accountId,
    availabilityZone: d.zone,
    instanceFamily: d.family as Family,
    autoPlacement: d.autoPlacement as AutoPlacement,
    state: h.state === "available" ? ("available" as const) : ("under-assessment" as const),
    allocationTime: iso(d.allocatedAt),
    sockets: h.sockets,
    cores: h.sockets * h.coresPerSocket,
    vcpus: { total: h.usedVcpus + h.freeVcpus, free: h.freeVcpus },
    instances: on
      .filter((i) => i.hostId === d.hostId)
      .map((i) => ({ instanceId: i.id, instanceType: i.instanceType, state: i.state as InstanceState })),
  }));
}

export type DedicatedHostView = Awaited<ReturnType<typeof viewsOf>>[number];

/**
 * Takes one free host for the account, or none (another call claimed it first, or an instance got there
 * meanwhile). The inventory first, so that shared placement stops offering the host; then its object,
 * the judge, which refuses if another account's instance got there meanwhile. Throws with the row still
 * claimed if the object fails: the caller undoes it.
 */
async function claimHost(
  fleet: Fleet,
  hostId: string,
  accountId: string,
  input: AllocateHostsInput,
  family: Family,
  now: number,
  clock: Awaited<ReturnType<Fleet["clock"]>>,
  /** Told of the row once it is this call's, so that a failure after it can undo it. */
  claimed: (hostId: string) => void,
): Promise<string | null> {
  const inserted = await fleet.db
    .insert(dedicatedHosts)
    .values({
      hostId,
      accountId,
      zone: input.availabilityZone,
      family,
      autoPlacement: input.autoPlacement,
      allocatedAt: now,
    })
    .onConflictDoNothing()
    .returning({ hostId: dedicatedHosts.hostId });
  if (inserted.length === 0) return null;
  claimed(hostId);
  const ok = await fleet.host(hostId).dedicate(accountId, clock);
  if (ok.result) return hostId;
  await fleet.db
    .delete(dedicatedHosts)
    .where(and(eq(dedicatedHosts.hostId, hostId), eq(dedicatedHosts.accountId, accountId)));
  return null;
}

/**
 * Undoes a failed call's claims: the hosts it dedicated go back (object, then row), and the row of the
 * host it was claiming when it failed goes (its object may have been dedicated before the failure, so it
 * is asked to give it back too; a host that was never the account's answers so and keeps no row).
 */
async function undoClaims(
  fleet: Fleet,
  accountId: string,
  taken: readonly string[],
  claiming: string | null,
) {
  const clock = await fleet.clock();
  await Promise.allSettled(taken.map((id) => giveBack(fleet, accountId, id)));
  if (claiming) {
    await Promise.allSettled([fleet.host(claiming).undedicate(accountId, clock)]);
    await fleet.db
      .delete(dedicatedHosts)
      .where(and(eq(dedicatedHosts.hostId, claiming), eq(dedicatedHosts.accountId, accountId)));
  }
}

export async function allocateHosts(fleet: Fleet, input: AllocateHostsInput) {
  const accountId = creatorAccount(fleet.caller);
  checkZone("body.availabilityZone", input.availabilityZone);
  const family = familyOf(input);
  if (
    !Number.isInteger(input.quantity) ||
    input.quantity < 1 ||
    input.quantity > DEDICATED_HOSTS_PER_CALL_MAX
  ) {
    throw invalidParameter("body.quantity", `must be from 1 to ${DEDICATED_HOSTS_PER_CALL_MAX}`);
  }
  const { clientToken, ...params } = input;
  let token = null;
  if (clientToken !== undefined) {
    checkClientToken("body.clientToken", clientToken);
    token = await tokenFor(accountId, "host", clientToken, { ...params });
    const earlier = await tokenResource(fleet, token);
    if (earlier) {
      const ids = JSON.parse(earlier) as string[];
      return { hostIds: ids, hosts: await viewsOf(fleet, ids) };
    }
  }
  const clock = await fleet.clock();
  const now = await fleet.now();
  const taken: string[] = [];
  // Any failure part-way undoes this call's claims: a claimed row whose object never became the
  // account's would hide the host from shared placement for good, and a 500 must leave nothing taken.
  let claimedNow: string | null = null;
  try {
    for (const hostId of await freeHosts(fleet, family, input.availabilityZone)) {
      if (taken.length === input.quantity) break;
      const claim = (id: string | null) => {
        claimedNow = id;
      };
      if (await claimHost(fleet, hostId, accountId, input, family, now, clock, claim)) taken.push(hostId);
      claimedNow = null;
    }
  } catch (err) {
    await undoClaims(fleet, accountId, taken, claimedNow);
    forgetCandidates(fleet, family);
    throw err;
  }
  forgetCandidates(fleet, family);
  if (taken.length < input.quantity) {
    await Promise.all(taken.map((id) => giveBack(fleet, accountId, id)));
    throw new ApiError(
      503,
      "InsufficientHostCapacity",
      `There is not enough capacity to fulfill your Dedicated Host request: ${input.availabilityZone} has ${taken.length} free ${family} host(s) of the ${input.quantity} asked for`,
      { field: "quantity" },
      { "retry-after": "5" },
    );
  }
  if (token) {
    const d1 = fleet.db.$client;
    const keep = keepToken(token, JSON.stringify(taken), now);
    try {
      await d1
        .prepare(keep.sql)
        .bind(...keep.params)
        .run();
    } catch (err) {
      if (!lostTokenRace(err)) throw err;
      // Another call with the token got there first: these go back, and its hosts are the answer.
      await Promise.all(taken.map((id) => giveBack(fleet, accountId, id)));
      const ids = JSON.parse((await tokenResource(fleet, token)) ?? "[]") as string[];
      return { hostIds: ids, hosts: await viewsOf(fleet, ids) };
    }
  }
  return { hostIds: taken, hosts: await viewsOf(fleet, taken) };
}

export async function listDedicatedHosts(
  fleet: Fleet,
  f: {
    availabilityZone?: string;
    instanceFamily?: string;
    hostIds?: string[];
    cursor?: string;
    limit: number;
  },
) {
  const where = [ownedBy(fleet.caller, dedicatedHosts.accountId)];
  if (f.availabilityZone) where.push(eq(dedicatedHosts.zone, f.availabilityZone));
  if (f.instanceFamily) where.push(eq(dedicatedHosts.family, f.instanceFamily));
  if (f.hostIds) where.push(inArray(dedicatedHosts.hostId, f.hostIds));
  if (f.cursor) where.push(gt(dedicatedHosts.hostId, f.cursor));
  const rows = await fleet.db
    .select({ id: dedicatedHosts.hostId })
    .from(dedicatedHosts)
    .where(and(...where))
    .orderBy(asc(dedicatedHosts.hostId))
    .limit(f.limit + 1);
  const { page, nextCursor } = pageOf(rows, f.limit, (r) => r.id);
  return {
    hosts: await viewsOf(
      fleet,
      page.map((r) => r.id),
    ),
    nextCursor,
  };
}

export async function describeDedicatedHost(fleet: Fleet, hostId: string) {
  const [v] = (await listDedicatedHosts(fleet, { hostIds: [hostId], limit: 1 })).hosts;
  if (!v) throw dedicatedHostNotFound(hostId);
  return v;
}

/** Releases each host that is the caller's and has no instance left on it; says why of the others. */
export async function releaseHosts(fleet: Fleet, hostIds: string[]) {
  const accountId = creatorAccount(fleet.caller);
  const mine = new Map(
    (
      await fleet.db
        .select()
        .from(dedicatedHosts)
        .where(and(inArray(dedicatedHosts.hostId, hostIds), eq(dedicatedHosts.accountId, accountId)))
    ).map((r) => [r.hostId, r]),
  );
  const released: string[] = [];
  const failed: { hostId: string; code: "InvalidHostID.NotFound" | "IncorrectState"; message: string }[] = [];
  const clock = await fleet.clock();
  for (const hostId of hostIds) {
    const row = mine.get(hostId);
    if (!row) {
      failed.push({
        hostId,
        code: "InvalidHostID.NotFound",
        message: `The dedicated host '${hostId}' does not exist`,
      });
      continue;
    }
    const r = await fleet.host(hostId).undedicate(accountId, clock);
    if (r.result === "in-use") {
      failed.push({
        hostId,
        code: "IncorrectState",
        message: `The dedicated host '${hostId}' has instances on it; terminate them first`,
      });
      continue;
    }
    await fleet.db
      .delete(dedicatedHosts)
      .where(and(eq(dedicatedHosts.hostId, hostId), eq(dedicatedHosts.accountId, accountId)));
    forgetCandidates(fleet, row.family);
    released.push(hostId);
  }
  return { released, failed };
}

/** Where a launch for a dedicated host may go: the hosts placement is offered, and their zone. */
export interface DedicatedPool {
  hosts: Candidate[];
  tenancy: "host";
}

/**
 * The account's dedicated hosts a launch of `type` may be placed on: the one it names, or (with no name)
 * those with auto-placement on, in its zone if it names one. A named host that is not the account's is
 * not found; one of another family refuses the type.
 */
export async function dedicatedPool(
  fleet: Fleet,
  type: InstanceType,
  zone: string | undefined,
  hostId: string | undefined,
  /** The account whose hosts these are: the caller's, or (a start) the instance's. */
  accountId: string = creatorAccount(fleet.caller),
): Promise<DedicatedPool & { zone: string | undefined }> {
  const where = [eq(dedicatedHosts.accountId, accountId)];
  if (hostId !== undefined) where.push(eq(dedicatedHosts.hostId, hostId));
  else {
    where.push(eq(dedicatedHosts.autoPlacement, "on"), eq(dedicatedHosts.family, type.family));
    if (zone !== undefined) where.push(eq(dedicatedHosts.zone, zone));
  }
  const rows = await fleet.db
    .select({ d: dedicatedHosts, h: hosts })
    .from(dedicatedHosts)
    .innerJoin(hosts, eq(hosts.id, dedicatedHosts.hostId))
    .where(and(...where));
  if (hostId !== undefined) {
    const row = rows[0];
    if (!row)
      throw new ApiError(400, "InvalidHostID.NotFound", `The dedicated host '${hostId}' does not exist`, {
        field: "hostId",
      });
    if (row.d.family !== type.family) {
      throw invalidParameter(
        "instanceType",
        `the dedicated host '${hostId}' is a ${row.d.family} host and cannot run ${type.name}`,
      );
    }
    if (zone !== undefined && zone !== row.d.zone) {
      throw invalidParameter(
        "availabilityZone",
        `the dedicated host '${hostId}' is in ${row.d.zone}, not ${zone}`,
      );
    }
  }
  return {
    tenancy: "host",
    zone: hostId !== undefined ? rows[0].d.zone : zone,
    hosts: rows.map(({ h }) => ({
      id: h.id,
      zone: h.zone,
      rack: h.rack,
      family: h.family,
      state: h.state,
      freeVcpus: h.freeVcpus,
      freeMemoryMiB: h.freeMemoryMiB,
      freeNvmeGB: h.freeNvmeGB,
      usageVersion: h.usageVersion,
    })),
  };
}

/** For shared placement: the hosts no account has taken. */
export function notDedicated(fleet: Fleet) {
  return notExists(
    fleet.db
      .select({ one: dedicatedHosts.hostId })
      .from(dedicatedHosts)
      .where(eq(dedicatedHosts.hostId, hosts.id)),
  );
}
