// Connection tracking of security groups: each interface remembers the flows it let through,
// so a reply to an allowed flow passes whatever the rules of its direction say, until the
// flow has been idle past its timeout. Timeouts are EC2's defaults (ConnectionTrackingConfiguration,
// EC2 API reference): TCP established 432,000 s, UDP 30 s for a flow seen one way or in one
// request and response, 180 s once it is a stream. ICMP takes UDP's 30 s (not documented).
import type { PacketProtocol, PacketView } from "./security-group";

export const TCP_ESTABLISHED_TIMEOUT_S = 432_000;
export const UDP_TIMEOUT_S = 30;
export const UDP_STREAM_TIMEOUT_S = 180;
export const OTHER_TIMEOUT_S = UDP_TIMEOUT_S;

export interface Flow {
  /** Simulated ms after which the flow is forgotten unless traffic refreshes it. */
  expiresAt: number;
  /** Packets seen leaving and arriving: a UDP flow seen both ways is a stream. */
  outbound: number;
  inbound: number;
}

/** Where an interface's flows are kept: a Map in tests, the host object's storage in the fleet. */
export interface FlowTable {
  get(eniId: string, key: string): Flow | undefined;
  put(eniId: string, key: string, flow: Flow): void;
}

/**
 * A flow named from the interface's side: the same key for a packet leaving (our port →
 * their address and port) and for its reply arriving (their address and port → our port).
 * ICMP has no ports: its flow is the protocol and the peer.
 */
export function flowKey(p: Pick<PacketView, "protocol" | "localPort" | "remoteIp" | "remotePort">): string {
  const ports = p.protocol === "icmp" ? "0|0" : `${p.localPort}|${p.remotePort}`;
  return `${p.protocol}|${p.remoteIp}|${ports}`;
}

export function idleTimeoutS(protocol: PacketProtocol, flow: Pick<Flow, "outbound" | "inbound">): number {
  if (protocol === "tcp") return TCP_ESTABLISHED_TIMEOUT_S;
  if (protocol === "udp") return flow.outbound > 0 && flow.inbound > 0 ? UDP_STREAM_TIMEOUT_S : UDP_TIMEOUT_S;
  return OTHER_TIMEOUT_S;
}

/** The live flow of `key` at `now`, or undefined when there is none or it has timed out. */
export function liveFlow(table: FlowTable, eniId: string, key: string, now: number): Flow | undefined {
  const f = table.get(eniId, key);
  return f && f.expiresAt > now ? f : undefined;
}

/** Records a packet of the flow, starting it if new, and pushes its expiry out. */
export function track(
  table: FlowTable,
  eniId: string,
  protocol: PacketProtocol,
  key: string,
  leaving: boolean,
  now: number,
): Flow {
  const prev = liveFlow(table, eniId, key, now);
  const counts = {
    outbound: (prev?.outbound ?? 0) + (leaving ? 1 : 0),
    inbound: (prev?.inbound ?? 0) + (leaving ? 0 : 1),
  };
  const flow = { ...counts, expiresAt: now + idleTimeoutS(protocol, counts) * 1000 };
  table.put(eniId, key, flow);
  return flow;
}

/** A FlowTable in memory. */
export class MapFlowTable implements FlowTable {
  readonly flows = new Map<string, Flow>();
  get(eniId: string, key: string) {
    return this.flows.get(`${eniId} ${key}`);
  }
  put(eniId: string, key: string, flow: Flow) {
    this.flows.set(`${eniId} ${key}`, flow);
  }
}
