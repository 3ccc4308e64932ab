// Security groups: allow-only rules on a network interface, inbound and outbound, matched by
// protocol, port range and a peer (a CIDR block or another group's members). After the Amazon
// VPC user guide ("Security group rules"): rules only allow; a packet no rule allows is dropped.
// Statefulness lives in conntrack.ts: a rule is consulted only for a flow not already tracked.
import { type Cidr, contains } from "./ipv4";

export const PROTOCOLS = ["tcp", "udp", "icmp", "all"] as const;
export type Protocol = (typeof PROTOCOLS)[number];
/** What a packet carries: a rule's "all" matches any of these. */
export type PacketProtocol = Exclude<Protocol, "all">;
export type Direction = "ingress" | "egress";

export interface SgRule {
  ruleId: string;
  groupId: string;
  direction: Direction;
  protocol: Protocol;
  /** Port range, inclusive; ignored for icmp and all (EC2 writes -1 there). */
  fromPort: number;
  toPort: number;
  /** The peer as a block, or null when the peer is a group. */
  cidr: Cidr | null;
  /** The peer as a group: any interface that is a member of it. */
  peerGroupId: string | null;
}

/** One packet as an interface sees it: its own port, and the other end. */
export interface PacketView {
  protocol: PacketProtocol;
  localPort: number;
  remoteIp: number;
  remotePort: number;
  /** The groups of the interface at the other end, when it is one of the fleet's. */
  remoteGroups: readonly string[];
}

export function ruleMatches(rule: SgRule, direction: Direction, p: PacketView): boolean {
  if (rule.direction !== direction) return false;
  if (rule.protocol !== "all" && rule.protocol !== p.protocol) return false;
  if (rule.protocol === "tcp" || rule.protocol === "udp") {
    // Inbound rules name the port the packet arrives on (ours), outbound the one it goes to (theirs).
    const port = direction === "ingress" ? p.localPort : p.remotePort;
    if (port < rule.fromPort || port > rule.toPort) return false;
  }
  if (rule.cidr) return contains(rule.cidr, p.remoteIp);
  if (rule.peerGroupId) return p.remoteGroups.includes(rule.peerGroupId);
  return false;
}

/**
 * The rule that allows the packet, or null. Every rule of every group of the interface is
 * considered (their union is what applies); when several allow it, the first in the order
 * of group id then rule id names the decision, so the answer is the same every time.
 */
export function allowingRule(rules: readonly SgRule[], direction: Direction, p: PacketView): SgRule | null {
  let best: SgRule | null = null;
  for (const r of rules) {
    if (!ruleMatches(r, direction, p)) continue;
    if (!best || r.groupId < best.groupId || (r.groupId === best.groupId && r.ruleId < best.ruleId)) best = r;
  }
  return best;
}
