// Routing between VPCs: a VPC's route table has its own block as the local route, and a
// route to each peered VPC's block through the peering. A destination no route covers is
// dropped; VPCs not peered never reach each other, whatever their addresses. Peered VPCs
// may not overlap (EC2 refuses such a peering), so at most one route covers an address.
import { type Cidr, contains, formatCidr, formatIp } from "./ipv4";

export interface VpcRoute {
  vpcId: string;
  cidr: Cidr;
  vni: number;
}

export type RouteResult =
  | { kind: "local"; vpc: VpcRoute }
  | { kind: "peering"; vpc: VpcRoute; peeringId: string }
  | { kind: "no-route"; reason: string };

export interface Peering {
  peeringId: string;
  vpc: VpcRoute;
}

export function route(from: VpcRoute, peers: readonly Peering[], dstIp: number): RouteResult {
  if (contains(from.cidr, dstIp)) return { kind: "local", vpc: from };
  for (const p of peers) {
    if (contains(p.vpc.cidr, dstIp)) return { kind: "peering", vpc: p.vpc, peeringId: p.peeringId };
  }
  const peered = peers.length ? ` or its peers (${peers.map((p) => formatCidr(p.vpc.cidr)).join(", ")})` : "";
  return {
    kind: "no-route",
    reason: `no route: ${formatIp(dstIp)} is outside ${from.vpcId} (${formatCidr(from.cidr)})${peered}`,
  };
}
