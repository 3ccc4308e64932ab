// DescribeHosts: the hosts a tenant's instances occupy (the fleet's hosts are the
// operator's; fleet/hosts.ts decides what a tenant sees), in EC2's Dedicated Host shape,
// with the tenant's own instances on each.
import { listHosts } from "../../../fleet/hosts";
import type { HostState } from "../../../sim/records";
import { type Action, ready } from "../context";
import { invalidValue, QueryError } from "../query";
import { allInstances } from "./instances";

/** The fleet's host states as EC2 names a Dedicated Host's. */
const EC2_STATE: Record<HostState, string> = {
  available: "available",
  maintenance: "under-assessment",
  failed: "permanent-failure",
  retired: "released",
};
const FLEET_STATE = Object.fromEntries(Object.entries(EC2_STATE).map(([k, v]) => [v, k as HostState]));

const HOST_ID = /^h-[0-9a-f]{17}$/;
/** DescribeHosts' MaxResults: 5 to 500 (Amazon EC2 API Reference, DescribeHosts). */
const HOSTS_MAX_RESULTS = 500;

export const describeHosts: Action = async (ctx) => {
  const { q } = ctx;
  const ids = q.list("HostId");
  for (const id of ids) {
    if (!HOST_ID.test(id))
      throw new QueryError("InvalidHostID.Malformed", `Invalid id: "${id.slice(0, 64)}" (expecting "h-...")`);
  }
  const filters = q.filters((n) => n === "availability-zone" || n === "state" || n === "instance-family");
  const { maxResults, nextToken } = q.paging(5, HOSTS_MAX_RESULTS);
  if (nextToken !== undefined && !HOST_ID.test(nextToken))
    throw invalidValue("NextToken", "not a token this endpoint gave");
  ready(ctx, q.bool("DryRun"));
  const one = (name: string) => {
    const v = filters.get(name);
    if (v && v.length > 1) throw invalidValue(`Filter ${name}`, "takes one value here");
    return v?.[0];
  };
  const state = one("state");
  const page = await listHosts(ctx.fleet, {
    ...(one("availability-zone") ? { availabilityZone: one("availability-zone") } : {}),
    ...(one("instance-family") ? { family: one("instance-family") } : {}),
    ...(state ? { state: FLEET_STATE[state] ?? "none" } : {}),
    ...(ids.length ? { hostIds: ids } : {}),
    ...(nextToken ? { cursor: nextToken } : {}),
    limit: maxResults ?? HOSTS_MAX_RESULTS,
  });
  if (ids.length) {
    const seen = new Set(page.hosts.map((h) => h.hostId));
    const missing = ids.filter((id) => !seen.has(id));
    if (missing.length && !filters.size) {
      throw new QueryError(
        "InvalidHostID.NotFound",
        `The host ID '${missing.slice(0, 10).join(", ")}' does not exist`,
      );
    }
  }
  const hostIds = page.hosts.map((h) => h.hostId);
  const mine = hostIds.length ? await allInstances(ctx, { hostId: hostIds }) : [];
  return {
    hostSet: page.hosts.map((h) => ({
      hostId: h.hostId,
      availabilityZone: h.availabilityZone,
      state: EC2_STATE[h.state as HostState] ?? h.state,
      autoPlacement: "on",
      hostRecovery: "off",
      allocationTime: h.createdAt,
      hostProperties: {
        instanceFamily: h.family,
        sockets: h.sockets,
        cores: h.sockets * h.coresPerSocket,
        totalVCpus: h.capacity.vcpus.total - h.capacity.vcpus.reserved,
      },
      availableCapacity: { availableVCpus: h.capacity.vcpus.free },
      instances: mine
        .filter((i) => i.hostId === h.hostId)
        .map((i) => ({ instanceId: i.instanceId, instanceType: i.instanceType, ownerId: ctx.accountId })),
    })),
    nextToken: page.nextCursor ?? undefined,
  };
};
