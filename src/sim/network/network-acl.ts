// Network ACLs: numbered allow and deny rules at a subnet's edge, each direction its own list,
// evaluated lowest number first; the first rule that matches decides, and a packet no numbered
// rule matches meets the last rule ("*"), which denies. Stateless: a reply is judged by the
// rules of its own direction like any packet, whatever let its request through. After the
// Amazon VPC user guide ("Network ACL rules", "Default network ACL", "Custom network ACLs"):
// rule numbers 1 to 32766; a default network ACL allows all traffic both ways (rule 100); a
// custom one denies all until rules are added; traffic between two interfaces of one subnet
// never crosses its edge, so no network ACL judges it.
import { type Cidr, contains } from "./ipv4";
import type { Direction, PacketView, Protocol } from "./security-group";
import { type Datagram, viewIn, viewOut } from "./vswitch";

type Seen = Pick<PacketView, "protocol" | "localPort" | "remoteIp" | "remotePort">;

export const MIN_RULE_NUMBER = 1;
export const MAX_RULE_NUMBER = 32766;
/** The number the default network ACL's allow-all rules carry, in each direction. */
export const DEFAULT_ALLOW_RULE_NUMBER = 100;
/** EC2 shows the "*" rule as number 32767. */
export const CATCH_ALL_RULE_NUMBER = 32767;

export type RuleAction = "allow" | "deny";

export interface NaclEntry {
  ruleNumber: number;
  direction: Direction;
  protocol: Protocol;
  /** Inclusive; the port the packet is going to (ours inbound, theirs outbound). Ignored but for tcp and udp. */
  fromPort: number;
  toPort: number;
  /** The other end: the source of an inbound packet, the destination of an outbound one. */
  cidr: Cidr;
  action: RuleAction;
}

export type NaclDecision =
  | { kind: "rule"; ruleNumber: number; action: RuleAction }
  | { kind: "catch-all"; ruleNumber: typeof CATCH_ALL_RULE_NUMBER; action: "deny" };

export function entryMatches(e: NaclEntry, direction: Direction, p: Seen): boolean {
  if (e.direction !== direction) return false;
  if (e.protocol !== "all" && e.protocol !== p.protocol) return false;
  if (e.protocol === "tcp" || e.protocol === "udp") {
    const port = direction === "ingress" ? p.localPort : p.remotePort;
    if (port < e.fromPort || port > e.toPort) return false;
  }
  return contains(e.cidr, p.remoteIp);
}

/**
 * The rule that decides the packet in `direction`: the lowest-numbered matching entry, else
 * the catch-all deny. Entries may come in any order; numbers are unique per direction.
 */
export function evaluateNacl(entries: readonly NaclEntry[], direction: Direction, p: Seen): NaclDecision {
  let best: NaclEntry | null = null;
  for (const e of entries) {
    if (best && e.ruleNumber >= best.ruleNumber) continue;
    if (entryMatches(e, direction, p)) best = e;
  }
  if (!best) return { kind: "catch-all", ruleNumber: CATCH_ALL_RULE_NUMBER, action: "deny" };
  return { kind: "rule", ruleNumber: best.ruleNumber, action: best.action };
}

/** The entries a VPC's default network ACL starts with: everything allowed, both ways. */
export function defaultEntries(): NaclEntry[] {
  return (["ingress", "egress"] as const).map((direction) => ({
    ruleNumber: DEFAULT_ALLOW_RULE_NUMBER,
    direction,
    protocol: "all",
    fromPort: 0,
    toPort: 65535,
    cidr: { base: 0, prefix: 0 },
    action: "allow",
  }));
}

/** A subnet's edge: the subnet and the network ACL associated with it. */
export interface SubnetEdge {
  subnetId: string;
  aclId: string;
  entries: readonly NaclEntry[];
}

export interface EdgeVerdict {
  aclId: string;
  subnetId: string;
  direction: Direction;
  allowed: boolean;
  decidedBy: NaclDecision;
}

export type Crossing =
  | { crosses: false }
  | { crosses: true; allowed: boolean; outbound: EdgeVerdict; inbound: EdgeVerdict | null };

/**
 * A datagram from an interface in `src` to one in `dst`: out through the source subnet's
 * network ACL, then in through the destination's. Within one subnet it crosses no edge. The
 * inbound edge is not reached when the outbound one denies.
 */
export function crossSubnets(src: SubnetEdge, dst: SubnetEdge, d: Datagram): Crossing {
  if (src.subnetId === dst.subnetId) return { crosses: false };
  const judge = (edge: SubnetEdge, direction: Direction): EdgeVerdict => {
    const decidedBy = evaluateNacl(edge.entries, direction, direction === "egress" ? viewOut(d) : viewIn(d));
    return {
      aclId: edge.aclId,
      subnetId: edge.subnetId,
      direction,
      allowed: decidedBy.action === "allow",
      decidedBy,
    };
  };
  const outbound = judge(src, "egress");
  if (!outbound.allowed) return { crosses: true, allowed: false, outbound, inbound: null };
  const inbound = judge(dst, "ingress");
  return { crosses: true, allowed: inbound.allowed, outbound, inbound };
}
