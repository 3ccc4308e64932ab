// Network isolation: every interface of an instance on the host carries its frames on the segment
// (VNI, RFC 7348) of the VPC its subnet belongs to, and that VPC, the interface and the instance are
// one account's. An interface whose frames carry another VPC's VNI would deliver into that VPC.
import { type CheckResult, type Finding, finding, result } from "./isolation";

export interface NetworkState {
  instances: ReadonlyArray<{ instanceId: string; accountId: string | null }>;
  /** The interfaces of those instances, with the VPC their port's frames are encapsulated for. */
  interfaces: ReadonlyArray<{
    eniId: string;
    instanceId: string;
    accountId: string;
    subnetId: string;
    vpcId: string;
  }>;
  subnets: ReadonlyArray<{ subnetId: string; vpcId: string; accountId: string }>;
  vpcs: ReadonlyArray<{ vpcId: string; accountId: string; vni: number }>;
}

export function checkNetwork(s: NetworkState): CheckResult {
  const found: Finding[] = [];
  const owner = new Map(s.instances.map((i) => [i.instanceId, i.accountId]));
  const subnets = new Map(s.subnets.map((x) => [x.subnetId, x]));
  const vpcs = new Map(s.vpcs.map((v) => [v.vpcId, v]));
  for (const eni of s.interfaces) {
    const subnet = subnets.get(eni.subnetId);
    const home = subnet ? vpcs.get(subnet.vpcId) : undefined;
    const carried = vpcs.get(eni.vpcId);
    const ids = [eni.instanceId];
    if (!home || !carried) {
      found.push(
        finding("foreign-network", `${eni.eniId} names a subnet or VPC that does not exist`, {
          instanceIds: ids,
          resource: eni.eniId,
          expected: subnet?.vpcId ?? eni.subnetId,
          found: eni.vpcId,
        }),
      );
      continue;
    }
    if (carried.vni !== home.vni) {
      found.push(
        finding(
          "vni-mismatch",
          `${eni.eniId}'s frames carry VNI ${carried.vni} (${carried.vpcId}), its subnet's VPC is ${home.vpcId} (VNI ${home.vni})`,
          { instanceIds: ids, resource: eni.eniId, expected: String(home.vni), found: String(carried.vni) },
        ),
      );
    }
    const accounts = new Set([
      eni.accountId,
      owner.get(eni.instanceId) ?? null,
      home.accountId,
      carried.accountId,
    ]);
    if (accounts.size > 1) {
      found.push(
        finding("foreign-network", `${eni.eniId}, its instance and its VPC are not one account's`, {
          instanceIds: ids,
          resource: eni.eniId,
          expected: eni.accountId,
          found: [...accounts].filter((a) => a !== eni.accountId).join(" ") || null,
        }),
      );
    }
  }
  return result("network", { interfaces: s.interfaces.length, vpcs: s.vpcs.length }, found);
}
