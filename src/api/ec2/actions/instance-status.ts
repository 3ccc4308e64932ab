// DescribeInstanceStatus: each instance's state and status checks. The fleet models no
// guest that stops answering, so a running instance passes both checks; an instance in any
// other state has none to pass ("not-applicable"), as on EC2. Running instances only,
// unless IncludeAllInstances.
import { listInstances } from "../../../fleet/instance-queries";
import type { InstanceView } from "../../../fleet/instance-view";
import { QUERY_MAX_RESULTS } from "../../../fleet/limits";
import type { InstanceState } from "../../../sim/lifecycle";
import { type Action, ready } from "../context";
import { instanceFilter } from "../filters";
import { invalidValue, QueryError } from "../query";
import { instanceIds, requireAll } from "./instances";

const STATUS_FILTERS = new Set(["instance-status.status", "system-status.status"]);
const PASSED_THROUGH = new Set(["availability-zone", "instance-state-name", "instance-state-code"]);

function checks(i: InstanceView) {
  const running = i.state.name === "running";
  const status = running ? "ok" : "not-applicable";
  const details = running ? [{ name: "reachability", status: "passed" }] : [];
  return { status, details };
}

export const describeInstanceStatus: Action = async (ctx) => {
  const { q } = ctx;
  const ids = instanceIds(ctx, false);
  const filters = q.filters((n) => PASSED_THROUGH.has(n) || STATUS_FILTERS.has(n));
  const includeAll = q.bool("IncludeAllInstances") ?? false;
  const { maxResults, nextToken } = q.paging(5, QUERY_MAX_RESULTS);
  if (maxResults !== undefined && ids.length > 0) {
    throw new QueryError(
      "InvalidParameterCombination",
      "The parameter InstanceId cannot be used with the parameter MaxResults",
    );
  }
  if (nextToken !== undefined && !/^i-[0-9a-f]{17}$/.test(nextToken))
    throw invalidValue("NextToken", "not a token this endpoint gave");
  ready(ctx, q.bool("DryRun"));
  if (ids.length > 0) await requireAll(ctx, ids);
  const passed = new Map([...filters].filter(([n]) => PASSED_THROUGH.has(n)));
  const base = instanceFilter(passed, ids);
  const states: InstanceState[] | undefined = includeAll
    ? base.state
    : (base.state ?? ["running"]).filter((s) => s === "running");
  const page = await listInstances(ctx.fleet, {
    ...base,
    ...(states ? { state: states } : {}),
    ...(states?.length === 0 ? { anyOf: { ...base.anyOf, instanceId: [] } } : {}),
    ...(nextToken !== undefined ? { cursor: nextToken } : {}),
    limit: maxResults ?? QUERY_MAX_RESULTS,
  });
  const wanted = (name: string, value: string) => !filters.has(name) || filters.get(name)!.includes(value);
  const items = page.instances
    .map((i) => ({ i, c: checks(i) }))
    .filter(
      ({ c }) => wanted("instance-status.status", c.status) && wanted("system-status.status", c.status),
    );
  return {
    instanceStatusSet: items.map(({ i, c }) => ({
      instanceId: i.instanceId,
      availabilityZone: i.availabilityZone,
      eventsSet: [],
      instanceState: { code: i.state.code, name: i.state.name },
      systemStatus: c,
      instanceStatus: c,
    })),
    nextToken: page.nextCursor ?? undefined,
  };
};
