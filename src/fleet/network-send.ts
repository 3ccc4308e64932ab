// Sending bytes from one instance to another address: the route (the sender's VPC, a peered
// one, or none), the security groups at both ends, judged by the virtual switches of the two
// hosts (which track the flows), and the path the frames take and what it achieves, priced by
// each host's CPU model. A packet the network drops is an answer, not an error: it says why.
import { and, eq } from "drizzle-orm";
import { instances, networkInterfaces, placementGroups, vpcs } from "../db/schema";
import type { TransferPrice } from "../sim/cpu";
import type { EndpointRequest, EndpointResult } from "../sim/network/endpoint";
import { formatCidr, formatIp, parseCidr, parseIp } from "../sim/network/ipv4";
import { type Crossing, crossSubnets, type EdgeVerdict } from "../sim/network/network-acl";
import { pathHops, type TransferResult, transfer } from "../sim/network/path";
import { route, type VpcRoute } from "../sim/network/routing";
import type { PacketProtocol } from "../sim/network/security-group";
import type { Datagram, Decision, SwitchPort } from "../sim/network/vswitch";
import type { GroupStrategy } from "../sim/placement-groups";
import type { Fleet } from "./context";
import { type InterfaceRow, interfaceOf } from "./enis";
import { ApiError, invalidParameter } from "./errors";
import { requireInstanceRow } from "./instance-queries";
import { MAX_SEND_BYTES } from "./limits";
import { mirrorApplied } from "./mirror";
import { subnetEdges } from "./network-acls";
import { switchRules } from "./security-groups";
import { peersOf } from "./vpc-peerings";

export interface SendInput {
  destination: { instanceId?: string; ip?: string };
  protocol: PacketProtocol;
  port: number;
  sourcePort?: number;
  bytes: number;
}

type DecisionView = ReturnType<typeof decisionView>;

/** The answer to a send: delivered with its path and transfer, or dropped with the reason. */
export interface SendAnswer {
  delivered: boolean;
  reason: string | null;
  flow: {
    protocol: PacketProtocol;
    source: { instanceId: string; ip: string; port: number };
    destination: { instanceId: string | null; ip: string; port: number };
  };
  route: { kind: "local" | "peering"; vpcId: string; peeringId: string | null } | null;
  path: ReturnType<typeof pathView> | null;
  securityGroups: { egress: DecisionView | null; ingress: DecisionView | null };
  /** The subnets' edges: not crossed within one subnet; the inbound edge is not reached when the outbound denies. */
  networkAcls: ReturnType<typeof aclsView> | null;
  /** The placement group both ends share, if they do: a cluster group's raises the single-flow limit. */
  placementGroup: { groupName: string; strategy: GroupStrategy } | null;
  source: ReturnType<typeof endView> | null;
  destination: ReturnType<typeof endView> | null;
  transfer: TransferResult | null;
}

/** Linux's default ephemeral range (net.ipv4.ip_local_port_range). */
const EPHEMERAL = [32768, 60999] as const;

type Ok = Extract<EndpointResult, { status: "ok" }>;

function decisionView(d: Decision, direction: "egress" | "ingress", allowed: boolean) {
  return {
    direction,
    allowed,
    decidedBy: d.kind,
    ruleId: d.kind === "rule" ? d.ruleId : null,
    groupId: d.kind === "rule" ? d.groupId : null,
  };
}

function edgeView(e: EdgeVerdict) {
  return {
    networkAclId: e.aclId,
    subnetId: e.subnetId,
    allowed: e.allowed,
    ruleNumber: e.decidedBy.ruleNumber,
    ruleAction: e.decidedBy.action,
    decidedBy: e.decidedBy.kind,
  };
}

function aclsView(c: Crossing) {
  return {
    crossed: c.crosses,
    outbound: c.crosses ? edgeView(c.outbound) : null,
    inbound: c.crosses && c.inbound ? edgeView(c.inbound) : null,
  };
}

/** "rule 90 (deny) of acl-..." or "the catch-all rule (*) of acl-...". */
function edgeRule(e: EdgeVerdict): string {
  const rule =
    e.decidedBy.kind === "catch-all"
      ? "the catch-all rule (*, 32767)"
      : `rule ${e.decidedBy.ruleNumber} (${e.decidedBy.action})`;
  return `${rule} of ${e.aclId} on ${e.subnetId}`;
}

function priceView(p: TransferPrice) {
  return {
    packets: p.packets,
    guestCycles: p.guestCycles,
    hypervisorCycles: p.vmmCycles,
    backendCycles: p.backendCycles,
    dom0Cycles: p.dom0Cycles,
    cardNs: p.cardNs,
    vmExits: p.exits,
    hypercalls: p.hypercalls,
  };
}

const routeOf = (v: typeof vpcs.$inferSelect): VpcRoute => ({
  vpcId: v.id,
  cidr: parseCidr(v.cidr)!,
  vni: v.vni,
});

async function vpcRow(fleet: Fleet, id: string) {
  const v = await fleet.db.select().from(vpcs).where(eq(vpcs.id, id)).get();
  if (!v) throw new Error(`the VPC ${id} of an interface is missing`);
  return v;
}

function port(eni: InterfaceRow, vni: number, rules: Awaited<ReturnType<typeof switchRules>>): SwitchPort {
  const groupIds = JSON.parse(eni.securityGroupIds) as string[];
  return {
    eniId: eni.id,
    instanceId: eni.instanceId,
    ip: eni.ip,
    vpcId: eni.vpcId,
    vni,
    groupIds,
    rules: rules.filter((r) => groupIds.includes(r.groupId)),
  };
}

export async function networkSend(fleet: Fleet, instanceId: string, input: SendInput): Promise<SendAnswer> {
  // Another account's instance is not found, whatever the body says.
  const src = await requireInstanceRow(fleet, instanceId);
  if (!Number.isInteger(input.bytes) || input.bytes < 1 || input.bytes > MAX_SEND_BYTES) {
    throw invalidParameter("body.bytes", `must be an integer from 1 to ${MAX_SEND_BYTES}`);
  }
  const d = input.destination;
  if ((d.instanceId === undefined) === (d.ip === undefined)) {
    throw invalidParameter("body.destination", "needs exactly one of instanceId and ip");
  }
  if (src.state !== "running" || !src.hostId) {
    throw new ApiError(
      409,
      "IncorrectInstanceState",
      `The instance '${instanceId}' must be running to send (it is ${src.state})`,
      {
        instanceId,
      },
    );
  }
  const srcEni = await interfaceOf(fleet, instanceId);
  if (!srcEni) {
    throw new ApiError(
      409,
      "InvalidNetworkInterface.NotFound",
      `The instance '${instanceId}' has no network interface`,
      {
        instanceId,
      },
    );
  }
  const srcVpc = await vpcRow(fleet, srcEni.vpcId);
  const peers = await peersOf(fleet, srcVpc);

  let dstIp: number;
  let named: InterfaceRow | undefined;
  if (d.instanceId !== undefined) {
    if (d.instanceId === instanceId)
      throw invalidParameter("body.destination.instanceId", "is the sending instance itself");
    await requireInstanceRow(fleet, d.instanceId);
    named = await interfaceOf(fleet, d.instanceId);
    if (!named) {
      throw new ApiError(
        409,
        "InvalidNetworkInterface.NotFound",
        `The instance '${d.instanceId}' has no network interface`,
        {
          instanceId: d.instanceId,
        },
      );
    }
    dstIp = named.ip;
  } else {
    const ip = parseIp(d.ip!);
    if (ip === null) throw invalidParameter("body.destination.ip", `'${d.ip}' is not an IPv4 address`);
    dstIp = ip;
  }
  const sourcePort =
    input.sourcePort ?? EPHEMERAL[0] + Math.floor(Math.random() * (EPHEMERAL[1] - EPHEMERAL[0] + 1));
  const datagram: Datagram = {
    protocol: input.protocol,
    srcIp: srcEni.ip,
    srcPort: sourcePort,
    dstIp,
    dstPort: input.port,
  };
  const flow = {
    protocol: input.protocol,
    source: { instanceId, ip: srcEni.privateIp, port: sourcePort },
    destination: { instanceId: named?.instanceId ?? null, ip: formatIp(dstIp), port: input.port },
  };
  const answerBase = (): SendAnswer => ({
    delivered: true,
    reason: null,
    flow,
    route: null,
    path: null,
    securityGroups: { egress: null, ingress: null },
    networkAcls: null,
    placementGroup: null,
    source: null,
    destination: null,
    transfer: null,
  });
  const dropped = (reason: string, extra: Partial<SendAnswer> = {}): SendAnswer => ({
    ...answerBase(),
    ...extra,
    delivered: false,
    reason,
  });

  // The route table of the sender's VPC: its own block, then its peers'.
  const r = route(routeOf(srcVpc), peers, dstIp);
  if (r.kind === "no-route") {
    const where = named
      ? ` (${named.instanceId} is in ${named.vpcId}, which is not peered with ${srcVpc.id})`
      : "";
    return dropped(`${r.reason}${where}`);
  }
  const routeView = {
    kind: r.kind,
    vpcId: r.vpc.vpcId,
    peeringId: r.kind === "peering" ? r.peeringId : null,
  };
  // The address routes into r.vpc; the interface that holds it there is the destination.
  if (named && named.vpcId !== r.vpc.vpcId) {
    return dropped(
      `${named.instanceId} is in ${named.vpcId}, another VPC with no peering to ${srcVpc.id}: its address ${named.privateIp} routes inside ${r.vpc.vpcId} (${formatCidr(r.vpc.cidr)}), never to it`,
      { route: routeView },
    );
  }
  const dstEni =
    named ??
    (await fleet.db
      .select()
      .from(networkInterfaces)
      .where(and(eq(networkInterfaces.vpcId, r.vpc.vpcId), eq(networkInterfaces.ip, dstIp)))
      .get());
  if (!dstEni)
    return dropped(`no interface in ${r.vpc.vpcId} holds ${formatIp(dstIp)}`, { route: routeView });
  // Whichever way it was named, the destination is now known.
  flow.destination.instanceId = dstEni.instanceId;
  const dst = await fleet.db.select().from(instances).where(eq(instances.id, dstEni.instanceId)).get();
  if (dst?.state !== "running" || !dst.hostId) {
    return dropped(`the destination ${dstEni.instanceId} is not running (${dst?.state ?? "gone"})`, {
      route: routeView,
    });
  }
  if (dst.id === instanceId) throw invalidParameter("body.destination", "is the sending instance itself");

  const dstVpc = dstEni.vpcId === srcVpc.id ? srcVpc : await vpcRow(fleet, dstEni.vpcId);
  const srcGroups = JSON.parse(srcEni.securityGroupIds) as string[];
  const dstGroups = JSON.parse(dstEni.securityGroupIds) as string[];
  const rules = await switchRules(fleet, [...new Set([...srcGroups, ...dstGroups])]);
  const clock = await fleet.clock();

  const play = async (hostId: string, req: EndpointRequest) => {
    const res = await fleet.host(hostId).networkEndpoint(req, clock);
    await mirrorApplied(fleet.db, res.events);
    return res.result;
  };
  const out = await play(src.hostId, {
    instanceId,
    direction: "egress",
    port: port(srcEni, dstVpc.vni, rules),
    datagram,
    remoteGroups: dstGroups,
    bytes: input.bytes,
    peerHostId: dst.hostId,
  });
  if (out.status !== "ok") {
    throw new ApiError(
      409,
      "IncorrectInstanceState",
      `The instance '${instanceId}' is not running on its host (${out.state ?? "gone"})`,
      {
        instanceId,
      },
    );
  }
  const egress = decisionView(out.verdict.decidedBy, "egress", out.verdict.allowed);
  if (!out.verdict.allowed) {
    return dropped(
      `outbound: no rule of ${srcGroups.join(", ")} allows ${input.protocol} to ${formatIp(dstIp)}:${input.port}`,
      { route: routeView, securityGroups: { egress, ingress: null } },
    );
  }
  // Out of the source subnet and into the destination's: each edge's network ACL, stateless.
  const edges = await subnetEdges(fleet, [srcEni.subnetId, dstEni.subnetId]);
  const crossing = crossSubnets(edges.get(srcEni.subnetId)!, edges.get(dstEni.subnetId)!, datagram);
  const networkAcls = aclsView(crossing);
  if (crossing.crosses && !crossing.allowed) {
    const edge = crossing.inbound ?? crossing.outbound;
    const way = crossing.inbound ? "inbound" : "outbound";
    // A reply the security group let out as tracked still needs a rule of the ACL's own.
    const stateless =
      out.verdict.decidedBy.kind === "tracked"
        ? " (network ACLs are stateless: a reply needs a rule of its own)"
        : "";
    return dropped(`${way}: denied by ${edgeRule(edge)}${stateless}`, {
      route: routeView,
      securityGroups: { egress, ingress: null },
      networkAcls,
    });
  }
  const inn = await play(dst.hostId, {
    instanceId: dst.id,
    direction: "ingress",
    port: port(dstEni, dstVpc.vni, rules),
    datagram,
    remoteGroups: srcGroups,
    bytes: input.bytes,
    peerHostId: src.hostId,
  });
  if (inn.status !== "ok") {
    return dropped(`the destination ${dst.id} is not running on its host`, {
      route: routeView,
      securityGroups: { egress, ingress: null },
      networkAcls,
    });
  }
  const ingress = decisionView(inn.verdict.decidedBy, "ingress", inn.verdict.allowed);
  if (!inn.verdict.allowed) {
    return dropped(
      `inbound: no rule of ${dstGroups.join(", ")} allows ${input.protocol} port ${input.port} from ${srcEni.privateIp}, and no tracked flow matches`,
      { route: routeView, securityGroups: { egress, ingress }, networkAcls },
    );
  }
  const mtu = Math.min(out.maxFrame, inn.maxFrame);
  const sp = out.prices.find((p) => p.mtu === mtu)!.price;
  const dp = inn.prices.find((p) => p.mtu === mtu)!.price;
  const fwd = out.forwarding!;
  const shared = await sharedGroup(fleet, src.placementGroupId, dst.placementGroupId);
  const t = transfer(
    { hostId: out.hostId, rack: out.rack, zone: out.zone, price: sp },
    { hostId: inn.hostId, rack: inn.rack, zone: inn.zone, price: dp },
    fwd,
    input.protocol,
    input.bytes,
    mtu,
    shared?.strategy === "cluster",
  );
  return {
    ...answerBase(),
    route: routeView,
    path: pathView(out, inn),
    securityGroups: { egress, ingress },
    networkAcls,
    placementGroup: shared,
    source: endView(out, sp),
    destination: endView(inn, dp),
    transfer: t,
  };
}

/** The group both instances were launched into, when they share one. */
async function sharedGroup(fleet: Fleet, a: string | null, b: string | null) {
  if (!a || a !== b) return null;
  const g = await fleet.db.select().from(placementGroups).where(eq(placementGroups.id, a)).get();
  return g ? { groupName: g.name, strategy: g.strategy as GroupStrategy } : null;
}

function endView(e: Ok, p: TransferPrice) {
  return { hostId: e.hostId, hypervisor: e.hypervisor, netPath: e.netPath, cost: priceView(p) };
}

function pathView(out: Ok, inn: Ok) {
  const fwd = out.forwarding!;
  return {
    kind: fwd.kind === "local" ? ("vswitch" as const) : ("overlay" as const),
    vni: fwd.kind === "overlay" ? fwd.vni : null,
    hops: pathHops(out, inn, fwd),
  };
}
