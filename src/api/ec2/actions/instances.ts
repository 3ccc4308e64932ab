// RunInstances, DescribeInstances and the lifecycle actions, translated to the fleet's one
// launch path (fleet/launch.ts), its one list (fleet/instance-queries.ts) and its one state
// machine (fleet/instance-actions.ts).
import { act, type StateChange } from "../../../fleet/instance-actions";
import { type InstanceFilter, listInstances, requireInstanceRow } from "../../../fleet/instance-queries";
import type { InstanceView } from "../../../fleet/instance-view";
import { runInstances } from "../../../fleet/launch";
import {
  checkTags,
  MAX_LAUNCH_COUNT,
  MAX_TAGS,
  QUERY_MAX_RESULTS,
  ZONE_MAX_LENGTH,
  ZONE_PATTERN,
} from "../../../fleet/limits";
import { findInstanceType } from "../../../sim/catalog";
import { decide, type InstanceAction, type InstanceState } from "../../../sim/lifecycle";
import { MAX_PARTITIONS_PER_ZONE } from "../../../sim/placement-groups";
import { type Action, type ActionContext, instanceItem, ready, reservations } from "../context";
import { instanceFilter, instanceFilterNames } from "../filters";
import { invalidValue, QueryError, unsupported } from "../query";
import { withGroupCodes } from "./placement";

const INSTANCE_ID = /^i-[0-9a-f]{17}$/;

/** `InstanceId.N`, each well formed: EC2's InvalidInstanceID.Malformed otherwise. */
export function instanceIds(ctx: ActionContext, required: boolean): string[] {
  const ids = ctx.q.list("InstanceId");
  if (required && ids.length === 0) {
    throw new QueryError("MissingParameter", "The request must contain the parameter InstanceId");
  }
  for (const id of ids) {
    if (!INSTANCE_ID.test(id)) {
      throw new QueryError(
        "InvalidInstanceID.Malformed",
        `Invalid id: "${id.slice(0, 64)}" (expecting "i-...")`,
      );
    }
  }
  return [...new Set(ids)];
}

/** Tags of `TagSpecification.N` for the instance; other resources are not launched here. */
function launchTags(ctx: ActionContext): Record<string, string> {
  const specs = ctx.q.structs("TagSpecification", (p) => ({
    resourceType: ctx.q.required(`${p}.ResourceType`),
    tags: ctx.q.tags(`${p}.Tag`, MAX_TAGS),
    field: p,
  }));
  const tags: Record<string, string> = {};
  for (const spec of specs) {
    if (spec.resourceType !== "instance") {
      throw unsupported(
        `${spec.field}.ResourceType '${spec.resourceType.slice(0, 64)}'`,
        "a launch here makes instances only, with no volumes, interfaces or other resources to tag",
      );
    }
    for (const t of spec.tags) {
      if (Object.hasOwn(tags, t.key))
        throw invalidValue(spec.field, `the tag key '${t.key.slice(0, 128)}' is given twice`);
      tags[t.key] = t.value ?? "";
    }
  }
  return tags;
}

const runInstancesAction: Action = async (ctx) => {
  const { q } = ctx;
  const imageId = q.string("ImageId");
  if (imageId !== undefined && !/^ami-[0-9a-f]{8,17}$/.test(imageId)) {
    throw new QueryError(
      "InvalidAMIID.Malformed",
      `Invalid id: "${imageId.slice(0, 64)}" (expecting "ami-...")`,
    );
  }
  const instanceType = q.required("InstanceType");
  if (!findInstanceType(instanceType)) {
    throw invalidValue(
      "InstanceType",
      `'${instanceType.slice(0, 64)}' is not an instance type this fleet offers`,
    );
  }
  const minCount = q.int("MinCount", 1, MAX_LAUNCH_COUNT);
  const maxCount = q.int("MaxCount", 1, MAX_LAUNCH_COUNT);
  if (minCount === undefined)
    throw new QueryError("MissingParameter", "The request must contain the parameter MinCount");
  if (maxCount === undefined)
    throw new QueryError("MissingParameter", "The request must contain the parameter MaxCount");
  if (minCount > maxCount) {
    throw new QueryError(
      "InvalidParameterValue",
      `MinCount (${minCount}) must not be greater than MaxCount (${maxCount})`,
    );
  }
  const zone = q.string("Placement.AvailabilityZone");
  if (zone !== undefined && (zone.length > ZONE_MAX_LENGTH || !ZONE_PATTERN.test(zone))) {
    throw invalidValue("Placement.AvailabilityZone", `'${zone.slice(0, 64)}' is not an availability zone`);
  }
  const hostId = q.string("Placement.HostId");
  if (hostId !== undefined && hostId !== "") {
    throw unsupported("Placement.HostId", "this fleet has no dedicated hosts a tenant can launch onto yet");
  }
  const groupName = q.string("Placement.GroupName");
  const partitionNumber = q.int("Placement.PartitionNumber", 1, MAX_PARTITIONS_PER_ZONE);
  if (partitionNumber !== undefined && !groupName) {
    throw invalidValue("Placement.PartitionNumber", "a partition number needs Placement.GroupName");
  }
  // EC2 also takes the group's id; the fleet's groups are named by their account's names.
  if (q.string("Placement.GroupId") !== undefined) {
    throw unsupported("Placement.GroupId", "name the group with Placement.GroupName");
  }
  const tenancy = q.string("Placement.Tenancy");
  if (tenancy !== undefined && tenancy !== "default") {
    throw unsupported(
      `Placement.Tenancy '${tenancy.slice(0, 32)}'`,
      "every instance here runs on shared hosts",
    );
  }
  const subnetId = q.string("SubnetId");
  const securityGroupIds = q.list("SecurityGroupId");
  const clientToken = q.string("ClientToken");
  const tags = launchTags(ctx);
  // The JSON API's own bounds, named as EC2 names the parameter.
  try {
    checkTags("TagSpecification", tags);
  } catch (err) {
    throw invalidValue("TagSpecification", err instanceof Error ? err.message : String(err));
  }
  ready(ctx, q.bool("DryRun"));
  // ImageId is accepted and not modelled: every guest boots the same way here.
  const res = await withGroupCodes(
    runInstances(ctx.fleet, {
      instanceType,
      minCount,
      maxCount,
      ...(zone !== undefined ? { availabilityZone: zone } : {}),
      placementStrategy: "binpack",
      ...(clientToken !== undefined ? { clientToken } : {}),
      ...(subnetId !== undefined ? { subnetId } : {}),
      ...(securityGroupIds.length > 0 ? { securityGroupIds } : {}),
      ...(groupName
        ? { placementGroup: { groupName, ...(partitionNumber !== undefined ? { partitionNumber } : {}) } }
        : {}),
      tags,
      workload: "idle",
      paging: {},
    }),
  );
  return {
    reservationId: res.reservationId,
    ownerId: ctx.accountId,
    groupSet: [],
    instancesSet: res.instances.map(instanceItem),
  };
};

const describeInstances: Action = async (ctx) => {
  const { q } = ctx;
  const ids = instanceIds(ctx, false);
  const filters = q.filters(instanceFilterNames);
  const { maxResults, nextToken } = q.paging();
  if (maxResults !== undefined && ids.length > 0) {
    throw new QueryError(
      "InvalidParameterCombination",
      "The parameter instancesSet cannot be used with the parameter maxResults",
    );
  }
  if (nextToken !== undefined && !INSTANCE_ID.test(nextToken))
    throw invalidValue("NextToken", "not a token this endpoint gave");
  ready(ctx, q.bool("DryRun"));
  if (ids.length > 0) await requireAll(ctx, ids);
  const page = await listInstances(ctx.fleet, {
    ...instanceFilter(filters, ids),
    ...(nextToken !== undefined ? { cursor: nextToken } : {}),
    limit: maxResults ?? 1000,
  });
  return {
    reservationSet: reservations(page.instances, ctx.accountId),
    nextToken: page.nextCursor ?? undefined,
  };
};

/** Every instance of the caller's that `anyOf` matches, page by page (a page stops at its byte bound too). */
export async function allInstances(
  ctx: ActionContext,
  anyOf: NonNullable<InstanceFilter["anyOf"]>,
): Promise<InstanceView[]> {
  const out: InstanceView[] = [];
  let cursor: string | undefined;
  do {
    const page = await listInstances(ctx.fleet, {
      tags: [],
      anyOf,
      ...(cursor ? { cursor } : {}),
      limit: QUERY_MAX_RESULTS,
    });
    out.push(...page.instances);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return out;
}

/** InvalidInstanceID.NotFound naming every id the caller has no instance for. */
export async function requireAll(ctx: ActionContext, ids: string[]): Promise<InstanceView[]> {
  const found = await allInstances(ctx, { instanceId: ids });
  const known = new Set(found.map((i) => i.instanceId));
  const missing = ids.filter((id) => !known.has(id));
  if (missing.length > 0) {
    throw new QueryError(
      "InvalidInstanceID.NotFound",
      `The instance ID${missing.length > 1 ? "s" : ""} '${missing.slice(0, 10).join(", ")}' do${missing.length > 1 ? "" : "es"} not exist`,
    );
  }
  return found;
}

const stateOf = (s: StateChange["currentState"]) => ({ code: s.code, name: s.name });

/**
 * One lifecycle action over `InstanceId.N`. Every instance is found and checked against the
 * state machine before any is changed, so an id that does not exist or a state that forbids
 * the action changes none of them.
 */
function lifecycle(action: InstanceAction): Action {
  return async (ctx) => {
    const ids = instanceIds(ctx, true);
    if (action === "stop") {
      // A forced stop is a stop: the model has no guest that could hold one up.
      ctx.q.bool("Force");
      if (ctx.q.bool("Hibernate"))
        throw unsupported("Hibernate", "guests here keep no memory image across a stop");
    }
    ready(ctx, ctx.q.bool("DryRun"));
    await requireAll(ctx, ids);
    for (const id of ids) {
      const row = await requireInstanceRow(ctx.fleet, id);
      if (decide(row.state as InstanceState, action).kind === "illegal") {
        throw new QueryError(
          "IncorrectInstanceState",
          `The instance '${id}' is not in a state from which it can be ${action === "stop" ? "stopped" : action === "start" ? "started" : action === "reboot" ? "rebooted" : "terminated"} (it is ${row.state})`,
        );
      }
    }
    const changes: StateChange[] = [];
    for (const id of ids) changes.push(await act(ctx.fleet, id, action));
    if (action === "reboot") return { return: true };
    return {
      instancesSet: changes.map((c) => ({
        instanceId: c.instanceId,
        currentState: stateOf(c.currentState),
        previousState: stateOf(c.previousState),
      })),
    };
  };
}

export const INSTANCE_ACTIONS: Record<string, Action> = {
  RunInstances: runInstancesAction,
  DescribeInstances: describeInstances,
  StartInstances: lifecycle("start"),
  StopInstances: lifecycle("stop"),
  RebootInstances: lifecycle("reboot"),
  TerminateInstances: lifecycle("terminate"),
};
