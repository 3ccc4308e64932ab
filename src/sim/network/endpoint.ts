// One end of a send, as the host of that end plays it: the instance must be running here;
// its port's security groups and connection tracking judge the packet (vswitch.ts); and the
// host's CPU model prices the transfer along the guest's network path at each frame size the
// path may end up using (the smaller end decides, path.ts).
import type { HypervisorKind, NetPath, TransferPrice } from "../cpu";
import type { HostModel } from "../host";
import type { FlowTable } from "./conntrack";
import { JUMBO_MTU, maxFrame, packetsFor, STANDARD_MTU } from "./path";
import type { Direction } from "./security-group";
import { type Datagram, type Forwarding, type SwitchPort, type Verdict, VirtualSwitch } from "./vswitch";

export interface EndpointRequest {
  instanceId: string;
  direction: Direction;
  port: SwitchPort;
  datagram: Datagram;
  /** The groups of the interface at the other end. */
  remoteGroups: string[];
  bytes: number;
  /** Where the other end runs: the egress side decides between its switch and the overlay. */
  peerHostId: string;
}

export type EndpointResult =
  | { status: "not-running"; state: string | null }
  | {
      status: "ok";
      verdict: Verdict;
      /** The egress side's forwarding decision; null on the ingress side. */
      forwarding: Forwarding | null;
      hostId: string;
      rack: string;
      zone: string;
      hypervisor: HypervisorKind;
      netPath: NetPath;
      maxFrame: number;
      /** The transfer priced at each frame size it may use; empty when the packet was dropped. */
      prices: { mtu: number; price: TransferPrice }[];
    };

export function playEndpoint(
  m: HostModel,
  flows: FlowTable,
  req: EndpointRequest,
  now: number,
): EndpointResult {
  const vm = m.vm(req.instanceId);
  if (!vm || vm.holdExpiresWallMs !== null || vm.instance.state !== "running") {
    return { status: "not-running", state: vm ? vm.instance.state : null };
  }
  const cpu = m.cpuAt(now);
  const sw = new VirtualSwitch(m.host.hostId, flows);
  const verdict =
    req.direction === "egress"
      ? sw.egress(req.port, req.datagram, req.remoteGroups, now)
      : sw.ingress(req.port, req.datagram, req.remoteGroups, now);
  const forwarding = req.direction === "egress" ? sw.forward(req.peerHostId, req.port.vni) : null;
  const one = cpu.priceTransfer(req.instanceId, 1);
  if (!one) return { status: "not-running", state: vm.instance.state };
  const frame = maxFrame(one.netPath);
  const prices: { mtu: number; price: TransferPrice }[] = [];
  if (verdict.allowed) {
    for (const mtu of [STANDARD_MTU, JUMBO_MTU]) {
      if (mtu > frame) continue;
      const price = cpu.priceTransfer(req.instanceId, packetsFor(req.bytes, mtu, req.datagram.protocol));
      if (price) prices.push({ mtu, price });
    }
  }
  return {
    status: "ok",
    verdict,
    forwarding,
    hostId: m.host.hostId,
    rack: m.host.rack,
    zone: m.host.zone,
    hypervisor: cpu.host.kind,
    netPath: one.netPath,
    maxFrame: frame,
    prices,
  };
}
