// Reading the network's event log: an account's interfaces attached and released, oldest first.
import { and, asc, eq, gt, type SQL } from "drizzle-orm";
import { networkEvents } from "../db/schema";
import type { NetworkEventType } from "../sim/network/events";
import type { Fleet } from "./context";
import { ownedBy } from "./ownership";
import { pageOf } from "./paging";

export async function listNetworkEvents(
  fleet: Fleet,
  f: {
    instanceId?: string;
    networkInterfaceId?: string;
    type?: NetworkEventType;
    cursor?: number;
    limit: number;
  },
) {
  const where: (SQL | undefined)[] = [ownedBy(fleet.caller, networkEvents.accountId)];
  if (f.instanceId) where.push(eq(networkEvents.instanceId, f.instanceId));
  if (f.networkInterfaceId) where.push(eq(networkEvents.networkInterfaceId, f.networkInterfaceId));
  if (f.type) where.push(eq(networkEvents.type, f.type));
  if (f.cursor !== undefined) where.push(gt(networkEvents.seq, f.cursor));
  const rows = await fleet.db
    .select()
    .from(networkEvents)
    .where(and(...where))
    .orderBy(asc(networkEvents.seq))
    .limit(f.limit + 1);
  const { page, nextCursor } = pageOf(rows, f.limit, (r) => r.seq);
  return {
    events: page.map((r) => ({
      seq: r.seq,
      id: r.id,
      type: r.type as NetworkEventType,
      time: new Date(r.time).toISOString(),
      networkInterfaceId: r.networkInterfaceId,
      instanceId: r.instanceId,
      privateIpAddress: r.privateIp,
    })),
    nextCursor,
  };
}
