// DescribeInstanceStatus: each instance's state and status checks. The fleet models no
// guest that stops answering, so a running instance passes both checks; an instance in any
// other state has none to pass ("not-applicable"), as on EC2. Running instances only,
// unless IncludeAllInstances. Each instance's scheduled events (src/fleet/scheduled-events.ts)
// are its eventsSet; one the fleet has acted on keeps showing, its description prefixed
// "[Completed]" as on EC2.

import { listInstances } from "../../../fleet/instance-queries";
import type { InstanceView } from "../../../fleet/instance-view";
import { QUERY_MAX_RESULTS } from "../../../fleet/limits";
import { eventsOfInstances, type eventView } from "../../../fleet/scheduled-events";
import type { InstanceState } from "../../../sim/lifecycle";
import { type Action, ready } from "../context";
import { instanceFilter } from "../filters";
import { invalidValue, QueryError } from "../query";
import { instanceIds, requireAll } from "./instances";

const STATUS_FILTERS = new Set(["instance-status.status", "system-status.status"]);
const EVENT_FILTERS = new Set(["event.code", "event.description", "event.not-before", "event.not-after"]);
const PASSED_THROUGH = new Set(["availability-zone", "instance-state-name", "instance-state-code"]);

function checks(i: InstanceView) {
  const running = i.state.name === "running";
  const status = running ? "ok" : "not-applicable";
  const details = running ? [{ name: "reachability", status: "passed" }] : [];
  return { status, details };
}

type EventView = ReturnType<typeof eventView>;

function eventItem(e: EventView) {
  const done = e.state === "completed" || e.state === "failed";
  return {
    instanceEventId: e.instanceEventId,
    code: e.code,
    description: done ? `[Completed] ${e.description}` : e.description,
    notBefore: e.notBefore,
    notAfter: e.notAfter,
  };
}

/** A date filter value matches the same instant, however it is written. */
const sameInstant = (a: string, b: string) => {
  const t = Date.parse(b);
  return !Number.isNaN(t) && Date.parse(a) === t;
};

function eventMatches(filters: Map<string, string[]>, e: ReturnType<typeof eventItem>) {
  const f = (name: string, ok: (v: string) => boolean) => !filters.has(name) || filters.get(name)!.some(ok);
  return (
    f("event.code", (v) => v === e.code) &&
    f("event.description", (v) => v === e.description) &&
    f("event.not-before", (v) => sameInstant(e.notBefore, v)) &&
    f("event.not-after", (v) => sameInstant(e.notAfter, v))
  );
}

export const describeInstanceStatus: Action = async (ctx) => {
  const { q } = ctx;
  const ids = instanceIds(ctx, false);
  const filters = q.filters((n) => PASSED_THROUGH.has(n) || STATUS_FILTERS.has(n) || EVENT_FILTERS.has(n));
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
  const events = await eventsOfInstances(
    ctx.fleet,
    page.instances.map((i) => i.instanceId),
  );
  const byEvent = [...filters.keys()].some((n) => EVENT_FILTERS.has(n));
  const items = page.instances
    .map((i) => ({ i, c: checks(i), e: (events.get(i.instanceId) ?? []).map(eventItem) }))
    .filter(
      ({ c, e }) =>
        wanted("instance-status.status", c.status) &&
        wanted("system-status.status", c.status) &&
        (!byEvent || e.some((ev) => eventMatches(filters, ev))),
    );
  return {
    instanceStatusSet: items.map(({ i, c, e }) => ({
      instanceId: i.instanceId,
      availabilityZone: i.availabilityZone,
      eventsSet: e,
      instanceState: { code: i.state.code, name: i.state.name },
      systemStatus: c,
      instanceStatus: c,
    })),
    nextToken: page.nextCursor ?? undefined,
  };
};
