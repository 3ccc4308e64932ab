// The storage part of the isolation audit: the volume attachments of the host's instances as D1
// holds them (the truth of which volume is attached where), with each volume's account, for checkStorage.
import { eq, inArray } from "drizzle-orm";
import { volumeAttachments, volumes } from "../db/schema";
import type { CheckResult } from "../sim/security/isolation";
import { checkStorage } from "../sim/security/storage-check";
import type { Fleet } from "./context";
import { inChunks } from "./security-network";

export async function auditStorage(
  fleet: Fleet,
  instances: ReadonlyArray<{ instanceId: string; accountId: string | null }>,
): Promise<{ result: CheckResult; volumeAccounts: Map<string, string> }> {
  const ids = instances.map((i) => i.instanceId);
  const attachments = await inChunks(ids, (chunk) =>
    fleet.db
      .select({
        volumeId: volumeAttachments.volumeId,
        instanceId: volumeAttachments.instanceId,
        volumeAccountId: volumes.accountId,
      })
      .from(volumeAttachments)
      .innerJoin(volumes, eq(volumes.id, volumeAttachments.volumeId))
      .where(inArray(volumeAttachments.instanceId, chunk)),
  );
  return {
    result: checkStorage({ instances, attachments }),
    volumeAccounts: new Map(attachments.map((a) => [a.volumeId, a.volumeAccountId])),
  };
}
