// Setting an instance's workload profile: on a host the CPU model switches at once; an
// instance on no host keeps it in D1 and runs it from its next start.
import { and, eq, isNull } from "drizzle-orm";
import { instances } from "../db/schema";
import { resolveWorkload, type WorkloadSpec } from "../sim/cpu";
import { offHostChange } from "../sim/host";
import { type InstanceState, occupiesHost } from "../sim/lifecycle";
import type { Fleet } from "./context";
import { ApiError, checked, incorrectState } from "./errors";
import { requireInstanceRow } from "./instance-queries";
import { encodeWorkload, rowToRecord } from "./instance-rows";
import { instanceView } from "./instance-view";
import { mirrorAnswer, mirrorApplied } from "./mirror";

export async function setWorkload(fleet: Fleet, id: string, spec: WorkloadSpec) {
  checked("workload", () => resolveWorkload(spec));
  // Two rounds at most: a host may tell us the instance left it, which refreshes D1.
  for (let round = 0; round < 2; round++) {
    const row = await requireInstanceRow(fleet, id);
    if (row.state === "terminated") throw incorrectState(id, row.state, "reboot");
    if (row.hostId && occupiesHost(row.state as InstanceState)) {
      const r = await mirrorAnswer(
        fleet.db,
        await fleet.host(row.hostId).setWorkload(id, spec, await fleet.clock()),
      );
      if (r.status === "ok") return instanceView(r.instance);
      continue;
    }
    const rec = rowToRecord(row);
    const { instance: next, event } = offHostChange(
      rec,
      { workload: spec },
      await fleet.now(),
      crypto.randomUUID(),
    );
    // One conditional write: only if nobody changed or claimed the instance meanwhile.
    const won = await fleet.db
      .update(instances)
      .set({ workload: encodeWorkload(spec), version: next.version })
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
