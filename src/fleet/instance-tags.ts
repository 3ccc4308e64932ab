// Changing an instance's tags after its launch (EC2's CreateTags and DeleteTags): on a host,
// the host object changes its record and its event carries the new tags to D1; an instance
// on no host has D1 as its record, changed by one conditional write.
import { and, eq, isNull } from "drizzle-orm";
import { instances } from "../db/schema";
import { offHostChange } from "../sim/host";
import { type InstanceState, occupiesHost } from "../sim/lifecycle";
import { applyTagChange, type TagChange } from "../sim/tags";
import type { Fleet } from "./context";
import { ApiError } from "./errors";
import { requireInstanceRow } from "./instance-queries";
import { rowToRecord } from "./instance-rows";
import { instanceView } from "./instance-view";
import { checkTags, MAX_TAGS } from "./limits";
import { mirrorAnswer, mirrorApplied } from "./mirror";

const tagLimit = (id: string) =>
  new ApiError(400, "TagLimitExceeded", `The resource '${id}' would have more than ${MAX_TAGS} tags`, {
    instanceId: id,
  });

export async function changeInstanceTags(fleet: Fleet, id: string, change: TagChange) {
  checkTags("tags", change.set);
  // Two rounds at most: a host may tell us the instance left it, which refreshes D1.
  for (let round = 0; round < 2; round++) {
    const row = await requireInstanceRow(fleet, id);
    if (row.hostId && occupiesHost(row.state as InstanceState)) {
      const r = await mirrorAnswer(
        fleet.db,
        await fleet.host(row.hostId).changeTags(id, change, MAX_TAGS, await fleet.clock()),
      );
      if (r.status === "ok") return instanceView(r.instance);
      if (r.status === "illegal") throw tagLimit(id);
      continue;
    }
    const rec = rowToRecord(row);
    const tags = applyTagChange(rec.tags, change, MAX_TAGS);
    if (!tags) throw tagLimit(id);
    const { instance: next, event } = offHostChange(rec, { tags }, await fleet.now(), crypto.randomUUID());
    // One conditional write: only if nobody changed or claimed the instance meanwhile.
    const won = await fleet.db
      .update(instances)
      .set({ tags: JSON.stringify(tags), version: next.version })
      .where(and(eq(instances.id, id), eq(instances.version, rec.version), isNull(instances.claim)))
      .returning({ id: instances.id });
    if (won.length === 0) continue;
    await mirrorApplied(fleet.db, [event]);
    await fleet.publish([event]);
    return instanceView(next);
  }
  throw new ApiError(409, "IncorrectInstanceState", `The instance '${id}' is changing; retry`, {
    instanceId: id,
  });
}
