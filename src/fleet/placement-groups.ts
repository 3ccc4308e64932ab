// Placement groups: an account's named groups (cluster, partition, spread) that instances join
// at launch. Placement keeps each group's rule (sim/placement-groups.ts) over what D1 knows of
// the group's live members; a launch that cannot keep it is refused with EC2's
// InsufficientInstanceCapacity naming the group. Two launches into one group at the same moment
// each plan from the members they read, so they may both pick the same free rack (a spread group
// could then hold two instances on one rack); the host objects, which decide admission, know
// nothing of groups.
import { and, asc, count, eq, gt, inArray, isNotNull, ne } from "drizzle-orm";
import { hosts, instances, placementGroups } from "../db/schema";
import type { InstanceType } from "../sim/catalog";
import type { PlacementRequest } from "../sim/placement";
import {
  assignPartitions,
  type GroupMember,
  type GroupSpec,
  type GroupStrategy,
  MAX_PARTITIONS_PER_ZONE,
  planGroupOffers,
  shortfall,
} from "../sim/placement-groups";
import type { InstanceRecord, PlacementMembership } from "../sim/records";
import type { Candidate } from "./candidates";
import type { Fleet } from "./context";
import { ApiError, invalidParameter } from "./errors";
import { newId } from "./ids";
import { MAX_PLACEMENT_GROUPS_PER_ACCOUNT } from "./limits";
import { isUniqueViolation, quotaExceeded } from "./network-errors";
import { creatorAccount, ownedBy } from "./ownership";
import { pageOf } from "./paging";

type GroupRow = typeof placementGroups.$inferSelect;

/** States in which an instance holds its place in its group (a stopped one gives up its host). */
const LIVE_STATES = ["pending", "running", "stopping", "shutting-down"];

function groupView(g: GroupRow, instanceCount: number) {
  return {
    groupId: g.id,
    groupName: g.name,
    strategy: g.strategy as GroupStrategy,
    partitionCount: g.partitionCount,
    state: "available" as const,
    instanceCount,
    createdAt: new Date(g.createdAt).toISOString(),
  };
}

/** Not found, as the API's other 404s are; the EC2 Query API says EC2's InvalidPlacementGroup.Unknown. */
export const GROUP_NOT_FOUND = "InvalidPlacementGroup.NotFound";
const groupUnknown = (name: string) =>
  new ApiError(404, GROUP_NOT_FOUND, `The Placement Group '${name}' is unknown.`, {});

async function liveCounts(fleet: Fleet, ids: readonly string[]): Promise<Map<string, number>> {
  if (ids.length === 0) return new Map();
  const rows = await fleet.db
    .select({ id: instances.placementGroupId, n: count() })
    .from(instances)
    .where(and(inArray(instances.placementGroupId, [...ids]), inArray(instances.state, LIVE_STATES)))
    .groupBy(instances.placementGroupId);
  return new Map(rows.map((r) => [r.id!, r.n]));
}

export async function requirePlacementGroup(fleet: Fleet, name: string): Promise<GroupRow> {
  const row = await fleet.db
    .select()
    .from(placementGroups)
    .where(and(eq(placementGroups.name, name), ownedBy(fleet.caller, placementGroups.accountId)))
    .get();
  if (!row) throw groupUnknown(name);
  return row;
}

export async function createPlacementGroup(
  fleet: Fleet,
  input: { groupName: string; strategy: GroupStrategy; partitionCount?: number },
) {
  const accountId = creatorAccount(fleet.caller);
  let partitionCount: number | null = null;
  if (input.strategy === "partition") {
    const n = input.partitionCount;
    if (n === undefined || !Number.isInteger(n) || n < 1 || n > MAX_PARTITIONS_PER_ZONE) {
      throw invalidParameter(
        "body.partitionCount",
        `a partition group has 1 to ${MAX_PARTITIONS_PER_ZONE} partitions (EC2's most per Availability Zone)`,
      );
    }
    partitionCount = n;
  } else if (input.partitionCount !== undefined) {
    throw invalidParameter(
      "body.partitionCount",
      `only a partition group has partitions, not a ${input.strategy} group`,
    );
  }
  const [{ n }] = await fleet.db
    .select({ n: count() })
    .from(placementGroups)
    .where(eq(placementGroups.accountId, accountId));
  if (n >= MAX_PLACEMENT_GROUPS_PER_ACCOUNT) {
    throw quotaExceeded(
      "MaxPlacementGroupsExceeded",
      `an account may have at most ${MAX_PLACEMENT_GROUPS_PER_ACCOUNT} placement groups`,
    );
  }
  const row: GroupRow = {
    id: newId("pg"),
    accountId,
    name: input.groupName,
    strategy: input.strategy,
    partitionCount,
    createdAt: await fleet.now(),
  };
  try {
    await fleet.db.insert(placementGroups).values(row);
  } catch (err) {
    if (isUniqueViolation(err)) {
      throw new ApiError(
        400,
        "InvalidPlacementGroup.Duplicate",
        `body.groupName: The placement group '${input.groupName}' already exists.`,
        { field: "body.groupName" },
      );
    }
    throw err;
  }
  return groupView(row, 0);
}

export async function describePlacementGroup(fleet: Fleet, name: string) {
  const g = await requirePlacementGroup(fleet, name);
  return groupView(g, (await liveCounts(fleet, [g.id])).get(g.id) ?? 0);
}

export async function listPlacementGroups(
  fleet: Fleet,
  q: { strategy?: GroupStrategy; cursor?: string; limit: number },
) {
  const rows = await fleet.db
    .select()
    .from(placementGroups)
    .where(
      and(
        ownedBy(fleet.caller, placementGroups.accountId),
        q.strategy ? eq(placementGroups.strategy, q.strategy) : undefined,
        q.cursor ? gt(placementGroups.id, q.cursor) : undefined,
      ),
    )
    .orderBy(asc(placementGroups.id))
    .limit(q.limit + 1);
  const { page, nextCursor } = pageOf(rows, q.limit, (r) => r.id);
  const counts = await liveCounts(
    fleet,
    page.map((g) => g.id),
  );
  return { placementGroups: page.map((g) => groupView(g, counts.get(g.id) ?? 0)), nextCursor };
}

/** Deletes a group no instance is in any more (EC2: terminate them first). */
export async function deletePlacementGroup(fleet: Fleet, name: string) {
  creatorAccount(fleet.caller);
  const g = await requirePlacementGroup(fleet, name);
  const inside = await fleet.db
    .select({ id: instances.id })
    .from(instances)
    .where(and(eq(instances.placementGroupId, g.id), inArray(instances.state, [...LIVE_STATES, "stopped"])))
    .limit(1);
  if (inside.length > 0) {
    throw new ApiError(
      409,
      "InvalidPlacementGroup.InUse",
      `The placement group '${name}' is in use: ${inside[0].id} is in it`,
      { instanceId: inside[0].id },
    );
  }
  await fleet.db.delete(placementGroups).where(eq(placementGroups.id, g.id));
  return { ...groupView(g, 0), state: "deleted" as const };
}

/** Where the group's live members run, as placement needs it; `without` leaves one instance out. */
async function membersOf(fleet: Fleet, groupId: string, without?: string): Promise<GroupMember[]> {
  return fleet.db
    .select({ zone: hosts.zone, rack: hosts.rack, partition: instances.placementPartition })
    .from(instances)
    .innerJoin(hosts, eq(hosts.id, instances.hostId))
    .where(
      and(
        eq(instances.placementGroupId, groupId),
        inArray(instances.state, LIVE_STATES),
        isNotNull(instances.hostId),
        without !== undefined ? ne(instances.id, without) : undefined,
      ),
    );
}

/** A placement's view of one group: its rule, its members so far, and the offers that keep it. */
export class GroupPlacement {
  constructor(
    readonly spec: GroupSpec,
    readonly members: GroupMember[],
  ) {}

  offers(ranked: readonly Candidate[], remaining: readonly InstanceRecord[], req: PlacementRequest) {
    const byId = new Map(remaining.map((r) => [r.instanceId, r]));
    return planGroupOffers(
      this.spec,
      this.members,
      ranked,
      remaining.map((r) => ({
        instanceId: r.instanceId,
        partition: r.placementGroup?.partitionNumber ?? null,
      })),
      req,
    ).map((o) => ({ hostId: o.hostId, offer: o.instanceIds.map((id) => byId.get(id)!) }));
  }

  /** Instances a host took: members from now on, for the rounds that follow. */
  admitted(host: Pick<Candidate, "zone" | "rack">, records: readonly InstanceRecord[]) {
    for (const r of records) {
      this.members.push({
        zone: host.zone,
        rack: host.rack,
        partition: r.placementGroup?.partitionNumber ?? null,
      });
    }
  }

  capacityError(type: InstanceType, zone: string | undefined): ApiError {
    const where = zone ? ` in the Availability Zone (${zone})` : "";
    return new ApiError(
      503,
      "InsufficientInstanceCapacity",
      `We currently do not have sufficient ${type.name} capacity${where} for the placement group '${this.spec.name}': ${shortfall(this.spec)}.`,
      { instanceType: type.name, placementGroup: this.spec.name },
      { "retry-after": "5" },
    );
  }
}

/**
 * A launch of `count` into the named group: each instance's membership (partitions spread
 * evenly when none is asked for) and the group's placement.
 */
export async function groupLaunch(
  fleet: Fleet,
  choice: { groupName: string; partitionNumber?: number },
  count: number,
): Promise<{ memberships: PlacementMembership[]; placement: GroupPlacement }> {
  const g = await requirePlacementGroup(fleet, choice.groupName);
  const spec: GroupSpec = {
    name: g.name,
    strategy: g.strategy as GroupStrategy,
    partitionCount: g.partitionCount,
  };
  if (choice.partitionNumber !== undefined) {
    if (spec.strategy !== "partition") {
      throw invalidParameter(
        "body.placementGroup.partitionNumber",
        `'${g.name}' is a ${spec.strategy} group; only a partition group has partitions`,
      );
    }
    if (choice.partitionNumber < 1 || choice.partitionNumber > spec.partitionCount!) {
      throw invalidParameter(
        "body.placementGroup.partitionNumber",
        `'${g.name}' has partitions 1 to ${spec.partitionCount}, not ${choice.partitionNumber}`,
      );
    }
  }
  const members = await membersOf(fleet, g.id);
  const partitions =
    spec.strategy !== "partition"
      ? Array<number | null>(count).fill(null)
      : choice.partitionNumber !== undefined
        ? Array<number | null>(count).fill(choice.partitionNumber)
        : assignPartitions(count, spec.partitionCount!, members);
  return {
    memberships: partitions.map((partitionNumber) => ({ groupId: g.id, groupName: g.name, partitionNumber })),
    placement: new GroupPlacement(spec, members),
  };
}

/**
 * A stopped instance's group, as its start places it again; a running one's as its migration places it
 * (`withoutSelf`: the other members only, since the instance leaves where it runs).
 */
export async function groupOfRecord(
  fleet: Fleet,
  rec: InstanceRecord,
  withoutSelf = false,
): Promise<GroupPlacement | undefined> {
  const m = rec.placementGroup;
  if (!m) return undefined;
  const g = await fleet.db.select().from(placementGroups).where(eq(placementGroups.id, m.groupId)).get();
  if (!g) return undefined;
  return new GroupPlacement(
    { name: g.name, strategy: g.strategy as GroupStrategy, partitionCount: g.partitionCount },
    await membersOf(fleet, g.id, withoutSelf ? rec.instanceId : undefined),
  );
}
