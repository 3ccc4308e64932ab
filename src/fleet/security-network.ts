// The network part of the isolation audit: the interfaces of the host's instances as D1 holds them
// (the truth of an account's network configuration), with their subnets and VPCs, for checkNetwork.
import { inArray } from "drizzle-orm";
import { networkInterfaces, subnets, vpcs } from "../db/schema";
import type { CheckResult } from "../sim/security/isolation";
import { checkNetwork } from "../sim/security/network-check";
import type { Fleet } from "./context";
import { IN_LIST } from "./mirror";

export async function inChunks<T>(
  ids: readonly string[],
  read: (chunk: string[]) => Promise<T[]>,
): Promise<T[]> {
  const out: T[] = [];
  for (let at = 0; at < ids.length; at += IN_LIST) out.push(...(await read(ids.slice(at, at + IN_LIST))));
  return out;
}

export async function auditNetwork(
  fleet: Fleet,
  instances: ReadonlyArray<{ instanceId: string; accountId: string | null }>,
): Promise<CheckResult> {
  const ids = instances.map((i) => i.instanceId);
  const enis = await inChunks(ids, (chunk) =>
    fleet.db
      .select({
        eniId: networkInterfaces.id,
        instanceId: networkInterfaces.instanceId,
        accountId: networkInterfaces.accountId,
        subnetId: networkInterfaces.subnetId,
        vpcId: networkInterfaces.vpcId,
      })
      .from(networkInterfaces)
      .where(inArray(networkInterfaces.instanceId, chunk)),
  );
  const subnetRows = await inChunks([...new Set(enis.map((e) => e.subnetId))], (chunk) =>
    fleet.db
      .select({ subnetId: subnets.id, vpcId: subnets.vpcId, accountId: subnets.accountId })
      .from(subnets)
      .where(inArray(subnets.id, chunk)),
  );
  const vpcIds = [...new Set([...enis.map((e) => e.vpcId), ...subnetRows.map((s) => s.vpcId)])];
  const vpcRows = await inChunks(vpcIds, (chunk) =>
    fleet.db
      .select({ vpcId: vpcs.id, accountId: vpcs.accountId, vni: vpcs.vni })
      .from(vpcs)
      .where(inArray(vpcs.id, chunk)),
  );
  return checkNetwork({ instances, interfaces: enis, subnets: subnetRows, vpcs: vpcRows });
}
