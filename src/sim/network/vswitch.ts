// A host's virtual switch: the port of each network interface on the host, the security
// groups and connection tracking applied at each port, and the forwarding decision: a frame
// for a port on this host is delivered by the switch itself; any other is encapsulated with
// its VPC's segment id (VNI) and sent over the physical network. On Nitro the switch is the
// card's (the VPC data plane offloaded from the host); on Xen it is dom0's software bridge
// behind netback, or, for an SR-IOV function, the NIC's embedded switch.
import { type FlowTable, flowKey, liveFlow, track } from "./conntrack";
import {
  allowingRule,
  type Direction,
  type PacketProtocol,
  type PacketView,
  type SgRule,
} from "./security-group";

/** A network interface as its host's switch knows it. */
export interface SwitchPort {
  eniId: string;
  instanceId: string;
  ip: number;
  vpcId: string;
  vni: number;
  groupIds: readonly string[];
  /** The rules of all its groups. */
  rules: readonly SgRule[];
}

/** The five-tuple of a packet. */
export interface Datagram {
  protocol: PacketProtocol;
  srcIp: number;
  srcPort: number;
  dstIp: number;
  dstPort: number;
}

export type Decision =
  | { kind: "rule"; ruleId: string; groupId: string }
  | { kind: "tracked" }
  | { kind: "no-rule" };

export interface Verdict {
  allowed: boolean;
  direction: Direction;
  decidedBy: Decision;
}

/** VXLAN's outer headers (RFC 7348): Ethernet 14, IPv4 20, UDP 8 and the VXLAN header 8 bytes. */
export const OVERLAY_HEADER_BYTES = 14 + 20 + 8 + 8;
/** A VNI is 24 bits (RFC 7348 §5). */
export const MAX_VNI = 2 ** 24 - 1;

export type Forwarding = { kind: "local" } | { kind: "overlay"; vni: number; headerBytes: number };

export class VirtualSwitch {
  constructor(
    readonly hostId: string,
    private readonly flows: FlowTable,
  ) {}

  /** Outbound at `port`: a tracked flow passes; otherwise an egress rule must allow it. */
  egress(port: SwitchPort, d: Datagram, remoteGroups: readonly string[], now: number): Verdict {
    return this.filter(port, "egress", { ...viewOut(d), remoteGroups }, now);
  }

  /** Inbound at `port`: a reply to a flow it let out (or in) passes; otherwise an ingress rule must allow it. */
  ingress(port: SwitchPort, d: Datagram, remoteGroups: readonly string[], now: number): Verdict {
    return this.filter(port, "ingress", { ...viewIn(d), remoteGroups }, now);
  }

  /** Where a frame from this host to an interface on `dstHostId` goes, in segment `vni`. */
  forward(dstHostId: string, vni: number): Forwarding {
    if (dstHostId === this.hostId) return { kind: "local" };
    if (!Number.isInteger(vni) || vni < 1 || vni > MAX_VNI) throw new RangeError("a VNI is 1 to 2^24 - 1");
    return { kind: "overlay", vni, headerBytes: OVERLAY_HEADER_BYTES };
  }

  private filter(port: SwitchPort, direction: Direction, view: PacketView, now: number): Verdict {
    const key = flowKey(view);
    const leaving = direction === "egress";
    if (liveFlow(this.flows, port.eniId, key, now)) {
      track(this.flows, port.eniId, view.protocol, key, leaving, now);
      return { allowed: true, direction, decidedBy: { kind: "tracked" } };
    }
    const rule = allowingRule(port.rules, direction, view);
    if (!rule) return { allowed: false, direction, decidedBy: { kind: "no-rule" } };
    track(this.flows, port.eniId, view.protocol, key, leaving, now);
    return {
      allowed: true,
      direction,
      decidedBy: { kind: "rule", ruleId: rule.ruleId, groupId: rule.groupId },
    };
  }
}

/** A datagram as its sender's interface sees it. */
export const viewOut = (d: Datagram) => ({
  protocol: d.protocol,
  localPort: d.srcPort,
  remoteIp: d.dstIp,
  remotePort: d.dstPort,
});

/** A datagram as its receiver's interface sees it. */
export const viewIn = (d: Datagram) => ({
  protocol: d.protocol,
  localPort: d.dstPort,
  remoteIp: d.srcIp,
  remotePort: d.srcPort,
});
