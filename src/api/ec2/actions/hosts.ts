// DescribeHosts: the tenant's Dedicated Hosts and the hosts its instances occupy (fleet/hosts.ts
// decides what a tenant sees), in EC2's Dedicated Host shape, with the tenant's own instances on each;
// AllocateHosts and ReleaseHosts over the fleet's Dedicated Hosts (fleet/dedicated-hosts.ts).
import { inArray } from "drizzle-orm";
import { dedicatedHosts } from "../../../db/schema";
import { allocateHosts, releaseHosts } from "../../../fleet/dedicated-hosts";
import { listHosts } from "../../../fleet/hosts";
import {
  CLIENT_TOKEN_MAX_LENGTH,
  CLIENT_TOKEN_PATTERN,
  DEDICATED_HOSTS_PER_CALL_MAX,
} from "../../../fleet/limits";
import { FAMILIES, findInstanceType } from "../../../sim/catalog";
import type { HostState } from "../../../sim/records";
import { type Action, ready } from "../context";
import { invalidValue, QueryError, unsupported } from "../query";
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
  // A Dedicated Host says its own auto-placement and when it was allocated; a shared one is the fleet's.
  const dedicated = new Map(
    hostIds.length
      ? (await ctx.fleet.db.select().from(dedicatedHosts).where(inArray(dedicatedHosts.hostId, hostIds))).map(
          (d) => [d.hostId, d],
        )
      : [],
  );
  return {
    hostSet: page.hosts.map((h) => ({
      hostId: h.hostId,
      availabilityZone: h.availabilityZone,
      state: EC2_STATE[h.state as HostState] ?? h.state,
      autoPlacement: dedicated.get(h.hostId)?.autoPlacement ?? "on",
      hostRecovery: "off",
      allocationTime: dedicated.has(h.hostId)
        ? new Date(dedicated.get(h.hostId)?.allocatedAt ?? 0).toISOString()
        : h.createdAt,
      ownerId: dedicated.get(h.hostId)?.accountId,
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

const ON_OFF = new Set(["on", "off"]);

export const allocateHostsAction: Action = async (ctx) => {
  const { q } = ctx;
  const availabilityZone = q.required("AvailabilityZone");
  const instanceType = q.string("InstanceType");
  const instanceFamily = q.string("InstanceFamily");
  if (instanceType !== undefined && !findInstanceType(instanceType))
    throw invalidValue(
      "InstanceType",
      `'${instanceType.slice(0, 64)}' is not an instance type this fleet offers`,
    );
  if (instanceFamily !== undefined && !(FAMILIES as readonly string[]).includes(instanceFamily))
    throw invalidValue(
      "InstanceFamily",
      `'${instanceFamily.slice(0, 16)}' is not one of ${FAMILIES.join(", ")}`,
    );
  if ((instanceType === undefined) === (instanceFamily === undefined)) {
    throw new QueryError(
      "InvalidParameterCombination",
      "Specify exactly one of InstanceType and InstanceFamily",
    );
  }
  const quantity = q.int("Quantity", 1, DEDICATED_HOSTS_PER_CALL_MAX) ?? 1;
  const autoPlacement = q.string("AutoPlacement") ?? "off";
  if (!ON_OFF.has(autoPlacement)) throw invalidValue("AutoPlacement", "must be on or off");
  const recovery = q.string("HostRecovery");
  if (recovery !== undefined && recovery !== "off")
    throw unsupported("HostRecovery", "hosts here do not recover");
  const clientToken = q.string("ClientToken");
  if (clientToken !== undefined && !CLIENT_TOKEN_PATTERN.test(clientToken)) {
    throw invalidValue("ClientToken", `must be 1 to ${CLIENT_TOKEN_MAX_LENGTH} printable ASCII characters`);
  }
  if (q.list("TagSpecification.1.Tag").length || q.string("TagSpecification.1.ResourceType")) {
    throw unsupported("TagSpecification", "Dedicated Hosts here carry no tags");
  }
  ready(ctx, q.bool("DryRun"));
  const r = await allocateHosts(ctx.fleet, {
    availabilityZone,
    ...(instanceType !== undefined ? { instanceType } : {}),
    ...(instanceFamily !== undefined ? { instanceFamily } : {}),
    quantity,
    autoPlacement: autoPlacement as "on" | "off",
    ...(clientToken !== undefined ? { clientToken } : {}),
  });
  return { hostIdSet: r.hostIds };
};

export const releaseHostsAction: Action = async (ctx) => {
  const { q } = ctx;
  const ids = q.list("HostId");
  if (ids.length === 0)
    throw new QueryError("MissingParameter", "The request must contain the parameter HostId");
  for (const id of ids) {
    if (!HOST_ID.test(id))
      throw new QueryError("InvalidHostID.Malformed", `Invalid id: "${id.slice(0, 64)}" (expecting "h-...")`);
  }
  if (ids.length > DEDICATED_HOSTS_PER_CALL_MAX)
    throw invalidValue("HostId", `at most ${DEDICATED_HOSTS_PER_CALL_MAX}`);
  ready(ctx, q.bool("DryRun"));
  const r = await releaseHosts(ctx.fleet, ids);
  return {
    successful: r.released,
    unsuccessful: r.failed.map((f) => ({
      error: { code: f.code, message: f.message },
      resourceId: f.hostId,
    })),
  };
};
