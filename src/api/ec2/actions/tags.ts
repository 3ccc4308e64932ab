// CreateTags, DeleteTags and DescribeTags on instances, the one kind of resource a tenant
// owns here: changes through fleet/instance-tags.ts, reads through the instance list.
import { listInstances } from "../../../fleet/instance-queries";
import { changeInstanceTags } from "../../../fleet/instance-tags";
import type { InstanceView } from "../../../fleet/instance-view";
import { MAX_TAGS, QUERY_MAX_RESULTS } from "../../../fleet/limits";
import type { TagChange } from "../../../sim/tags";
import { type Action, type ActionContext, ready } from "../context";
import { invalidValue, QueryError } from "../query";
import { requireAll } from "./instances";

/** `ResourceId.N`: instance ids; anything else is not a resource a tenant has here. */
function resourceIds(ctx: ActionContext): string[] {
  const ids = ctx.q.list("ResourceId");
  if (ids.length === 0)
    throw new QueryError("MissingParameter", "The request must contain the parameter ResourceId");
  for (const id of ids) {
    if (!/^i-[0-9a-f]{17}$/.test(id)) {
      throw new QueryError(
        "InvalidID",
        `The ID '${id.slice(0, 64)}' is not valid: only instances (i-...) have tags here`,
      );
    }
  }
  return [...new Set(ids)];
}

async function retag(ctx: ActionContext, ids: string[], change: TagChange) {
  // Every resource found before any changes: an unknown id changes none of them.
  await requireAll(ctx, ids);
  for (const id of ids) await changeInstanceTags(ctx.fleet, id, change);
  return { return: true };
}

const createTags: Action = async (ctx) => {
  const ids = resourceIds(ctx);
  const tags = ctx.q.tags("Tag", MAX_TAGS);
  if (tags.length === 0)
    throw new QueryError("MissingParameter", "The request must contain the parameter Tag");
  const set: Record<string, string> = {};
  for (const t of tags) {
    if (Object.hasOwn(set, t.key))
      throw invalidValue("Tag", `the key '${t.key.slice(0, 128)}' is given twice`);
    set[t.key] = t.value ?? "";
  }
  ready(ctx, ctx.q.bool("DryRun"));
  return retag(ctx, ids, { set, remove: [] });
};

const deleteTags: Action = async (ctx) => {
  const ids = resourceIds(ctx);
  const tags = ctx.q.tags("Tag", MAX_TAGS);
  ready(ctx, ctx.q.bool("DryRun"));
  if (tags.length > 0) return retag(ctx, ids, { set: {}, remove: tags.map((t) => [t.key, t.value]) });
  // Without Tag.N, EC2 deletes every tag of the resources: each one's own keys.
  for (const i of await requireAll(ctx, ids)) {
    await changeInstanceTags(ctx.fleet, i.instanceId, {
      set: {},
      remove: Object.keys(i.tags).map((k) => [k, null]),
    });
  }
  return { return: true };
};

const TAG_FILTERS = new Set(["key", "value", "resource-id", "resource-type"]);

/** A page's place: the instance and the key of the last tag it gave. */
const tokenOf = (instanceId: string, key: string) =>
  `${instanceId}.${btoa(String.fromCharCode(...new TextEncoder().encode(key)))}`;
function parseToken(token: string): { instanceId: string; key: string } {
  const m = /^(i-[0-9a-f]{17})\.([A-Za-z0-9+/=]*)$/.exec(token);
  if (!m) throw invalidValue("NextToken", "not a token this endpoint gave");
  try {
    const bytes = Uint8Array.from(atob(m[2]), (ch) => ch.charCodeAt(0));
    return {
      instanceId: m[1],
      key: new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes),
    };
  } catch {
    throw invalidValue("NextToken", "not a token this endpoint gave");
  }
}

const describeTags: Action = async (ctx) => {
  const { q } = ctx;
  const filters = q.filters((n) => TAG_FILTERS.has(n) || /^tag:.{1,128}$/s.test(n));
  const { maxResults, nextToken } = q.paging(5, QUERY_MAX_RESULTS);
  const after = nextToken === undefined ? null : parseToken(nextToken);
  ready(ctx, q.bool("DryRun"));
  const limit = maxResults ?? QUERY_MAX_RESULTS;
  const types = filters.get("resource-type");
  if (types && !types.includes("instance")) return { tagSet: [] };
  const keys = filters.get("key");
  const values = filters.get("value");
  const tagFilters = [...filters]
    .filter(([n]) => n.startsWith("tag:"))
    .map(([n, v]) => [n.slice(4), v] as [string, string[]]);
  const anyOf = {
    ...(filters.has("resource-id") ? { instanceId: filters.get("resource-id")! } : {}),
    ...(keys ? { tagKey: keys } : {}),
    ...(values ? { tagValue: values } : {}),
    ...(tagFilters.length ? { tagValues: tagFilters } : {}),
  };
  const out: { resourceId: string; resourceType: string; key: string; value: string }[] = [];
  let more = false;
  const emit = (i: InstanceView, afterKey: string | null) => {
    for (const key of Object.keys(i.tags).sort()) {
      if (afterKey !== null && key <= afterKey) continue;
      const value = i.tags[key];
      if ((keys && !keys.includes(key)) || (values && !values.includes(value))) continue;
      if (out.length === limit) {
        more = true;
        return;
      }
      out.push({ resourceId: i.instanceId, resourceType: "instance", key, value });
    }
  };
  let cursor = after?.instanceId;
  if (after) {
    const first = await listInstances(ctx.fleet, {
      tags: [],
      anyOf: { ...anyOf, instanceId: [after.instanceId] },
      limit: 1,
    });
    for (const i of first.instances) emit(i, after.key);
  }
  while (!more) {
    const page = await listInstances(ctx.fleet, {
      tags: [],
      anyOf,
      ...(cursor ? { cursor } : {}),
      limit: 100,
    });
    for (const i of page.instances) {
      if (more) break;
      emit(i, null);
    }
    if (!page.nextCursor) break;
    cursor = page.nextCursor;
  }
  const last = out[out.length - 1];
  return {
    tagSet: out,
    nextToken: more && last ? tokenOf(last.resourceId, last.key) : undefined,
  };
};

export const TAG_ACTIONS: Record<string, Action> = {
  CreateTags: createTags,
  DeleteTags: deleteTags,
  DescribeTags: describeTags,
};
