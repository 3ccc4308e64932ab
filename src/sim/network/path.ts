// The path one transfer takes and what it achieves: frame size, packets, the hops, one-way
// latency and throughput, each end priced by its host's CPU and device model (cpu/guest.ts).
// Figures: EC2's single-flow limit of 5 Gbps between instances outside a cluster placement
// group ("Amazon EC2 instance network bandwidth", EC2 user guide); jumbo frames of 9001 bytes
// inside a VPC (EC2 user guide, "Network maximum transmission unit"); Availability Zones at
// most 100 km apart (AWS "Regions and Availability Zones"); light in fibre ~5 µs per km.
import type { HypervisorKind, NetPath, TransferPrice } from "../cpu";
import type { PacketProtocol } from "./security-group";
import type { Forwarding } from "./vswitch";

export const SINGLE_FLOW_GBPS = 5;
/**
 * A single flow between two instances of one cluster placement group: up to 10 Gbps (same
 * user guide page, "Single-flow traffic"). Such instances share a rack (placement-groups.ts),
 * so their frames also cross one top-of-rack switch rather than ToR, spine, ToR.
 */
export const CLUSTER_SINGLE_FLOW_GBPS = 10;
export const JUMBO_MTU = 9001;
export const STANDARD_MTU = 1500;
/** IPv4 20 bytes, and TCP 20 or UDP/ICMP 8. */
export const headerBytes = (p: PacketProtocol) => 20 + (p === "tcp" ? 20 : 8);
/** An Ethernet header on each frame on the wire. */
const ETHERNET_BYTES = 14;
/**
 * A switch hop of a data-centre fabric: cut-through switches forward in about a microsecond
 * (estimate of the right order, unverified). A rack's hosts share its top-of-rack switch;
 * between racks a frame crosses ToR, spine, ToR.
 */
export const SWITCH_HOP_NS = 1000;
export const ZONE_DISTANCE_MAX_KM = 100;
export const FIBRE_NS_PER_KM = 5000;

/**
 * The largest frame a path carries. A device the guest drives itself (ENA, an SR-IOV
 * function) takes jumbo frames; the split-driver, virtio and emulated paths are priced per
 * 1,500-byte frame, the size their calibration measured (cpu/costs.ts), so they keep to it.
 */
export function maxFrame(path: NetPath): number {
  return path === "ena" || path === "sriov_vf" ? JUMBO_MTU : STANDARD_MTU;
}

export function packetsFor(bytes: number, mtu: number, protocol: PacketProtocol): number {
  return Math.max(1, Math.ceil(bytes / (mtu - headerBytes(protocol))));
}

export interface Endpoint {
  hostId: string;
  rack: string;
  zone: string;
  price: TransferPrice;
}

export type Ceiling =
  | "source-instance-bandwidth"
  | "destination-instance-bandwidth"
  | "single-flow"
  | "source-vcpu"
  | "destination-vcpu"
  | "source-backend"
  | "destination-backend"
  | "source-card"
  | "destination-card";

export interface TransferResult {
  mtu: number;
  packets: number;
  /** Payload plus every frame's headers (and the overlay's, when encapsulated). */
  wireBytes: number;
  hops: number;
  latencyUs: number;
  throughputGbps: number;
  limitedBy: Ceiling;
  durationMs: number;
  /** Each ceiling; null where the path has no such stage (no back end on an SR-IOV path, no card on Xen). */
  ceilingsGbps: Record<Ceiling, number | null>;
}

/** Per-packet time of one end's serial stages, ns: its vCPU, its back end thread, its card. */
function stages(p: TransferPrice) {
  const n = p.packets;
  const cpuNs = ((p.guestCycles + p.vmmCycles) / n / p.freqHz) * 1e9;
  const backendNs = ((p.backendCycles + p.dom0Cycles) / n / p.freqHz) * 1e9;
  const cardNs = p.cardNs / n;
  return { cpuNs, backendNs, cardNs };
}

const gbpsAt = (nsPerPacket: number, payloadBytes: number) =>
  nsPerPacket > 0 ? (payloadBytes * 8) / nsPerPacket : Number.POSITIVE_INFINITY;

export function networkHops(src: Endpoint, dst: Endpoint, fwd: Forwarding): number {
  if (fwd.kind === "local") return 0;
  return src.rack === dst.rack && src.zone === dst.zone ? 1 : 3;
}

/**
 * A transfer of `bytes` from `src` to `dst`, both priced at `mtu` frames. Throughput is the
 * lowest of the ceilings: each instance type's bandwidth, the single-flow limit, and each
 * stage a packet passes through one at a time (the sending and receiving vCPU, a back end
 * thread such as netback or vhost, the card). Latency is one packet's time through both ends
 * and the fabric between them.
 */
export function transfer(
  src: Endpoint,
  dst: Endpoint,
  fwd: Forwarding,
  protocol: PacketProtocol,
  bytes: number,
  mtu: number,
  /** Both ends are in one cluster placement group: the single-flow limit is the cluster's. */
  sameClusterGroup = false,
): TransferResult {
  const packets = packetsFor(bytes, mtu, protocol);
  if (src.price.packets !== packets || dst.price.packets !== packets) {
    throw new RangeError("both ends must be priced for the transfer's packets");
  }
  const payload = mtu - headerBytes(protocol);
  const overlay = fwd.kind === "overlay" ? fwd.headerBytes : 0;
  const wireBytes = bytes + packets * (headerBytes(protocol) + ETHERNET_BYTES + overlay);
  const s = stages(src.price);
  const d = stages(dst.price);
  const ceilingsGbps: Record<Ceiling, number> = {
    "source-instance-bandwidth": src.price.networkGbps,
    "destination-instance-bandwidth": dst.price.networkGbps,
    "single-flow": sameClusterGroup ? CLUSTER_SINGLE_FLOW_GBPS : SINGLE_FLOW_GBPS,
    "source-vcpu": gbpsAt(s.cpuNs, payload),
    "destination-vcpu": gbpsAt(d.cpuNs, payload),
    "source-backend": gbpsAt(s.backendNs, payload),
    "destination-backend": gbpsAt(d.backendNs, payload),
    "source-card": gbpsAt(s.cardNs, payload),
    "destination-card": gbpsAt(d.cardNs, payload),
  };
  let limitedBy: Ceiling = "single-flow";
  for (const [k, v] of Object.entries(ceilingsGbps) as [Ceiling, number][]) {
    if (v < ceilingsGbps[limitedBy]) limitedBy = k;
  }
  const throughputGbps = ceilingsGbps[limitedBy];
  const hops = networkHops(src, dst, fwd);
  const fabricNs =
    hops * SWITCH_HOP_NS +
    (fwd.kind === "overlay" && src.zone !== dst.zone ? ZONE_DISTANCE_MAX_KM * FIBRE_NS_PER_KM : 0);
  const latencyNs = s.cpuNs + s.backendNs + s.cardNs + fabricNs + d.cpuNs + d.backendNs + d.cardNs;
  // The last packet leaves after the payload has gone at the throughput, and arrives one latency later.
  const serialNs = throughputGbps > 0 ? (bytes * 8) / throughputGbps : Number.POSITIVE_INFINITY;
  const shown = Object.fromEntries(
    Object.entries(ceilingsGbps).map(([k, v]) => [k, Number.isFinite(v) ? v : null]),
  ) as Record<Ceiling, number | null>;
  return {
    mtu,
    packets,
    wireBytes,
    hops,
    latencyUs: latencyNs / 1000,
    throughputGbps,
    limitedBy,
    durationMs: (latencyNs + serialNs) / 1e6,
    ceilingsGbps: shown,
  };
}

export interface EndpointDevice {
  hostId: string;
  hypervisor: HypervisorKind;
  netPath: NetPath;
}

/** Where a guest's frames enter or leave its host, by its device path. */
function device(e: EndpointDevice, leaving: boolean): string {
  const dir = leaving ? "out of" : "into";
  switch (e.netPath) {
    case "ena":
      return e.hypervisor === "nitro"
        ? `ENA ${dir} the Nitro card of ${e.hostId}`
        : `ENA virtual function ${dir} the NIC of ${e.hostId}`;
    case "sriov_vf":
      return `SR-IOV virtual function ${dir} the NIC of ${e.hostId}`;
    case "netfront":
      return `netfront ${dir} dom0's netback on ${e.hostId}`;
    case "virtio":
      return `virtio-net ${dir} the host's vhost back end on ${e.hostId}`;
    case "emulated":
      return `emulated NIC ${dir} the device model on ${e.hostId}`;
  }
}

/** The switch of a host that delivers between two of its own guests. */
function localSwitch(e: EndpointDevice): string {
  if (e.hypervisor === "nitro" && e.netPath === "ena")
    return `the Nitro card's virtual switch on ${e.hostId}`;
  if (e.netPath === "ena" || e.netPath === "sriov_vf") return `the NIC's embedded switch on ${e.hostId}`;
  if (e.hypervisor === "xen") return `dom0's software bridge on ${e.hostId}`;
  return `the host's software switch on ${e.hostId}`;
}

/** The hops of a transfer, in order, for people to read. */
export function pathHops(
  src: EndpointDevice & { rack: string; zone: string },
  dst: EndpointDevice & { rack: string; zone: string },
  fwd: Forwarding,
): string[] {
  const hops = [device(src, true)];
  if (fwd.kind === "local") {
    hops.push(localSwitch(src));
  } else {
    hops.push(`encapsulated in VXLAN, VNI ${fwd.vni} (+${fwd.headerBytes} bytes a frame)`);
    if (src.zone === dst.zone && src.rack === dst.rack) hops.push(`top-of-rack switch of ${src.rack}`);
    else {
      hops.push(`top-of-rack switch of ${src.rack}`, "spine");
      if (src.zone !== dst.zone) hops.push(`link between ${src.zone} and ${dst.zone}`);
      hops.push(`top-of-rack switch of ${dst.rack}`);
    }
    hops.push(`decapsulated on ${dst.hostId}`);
  }
  hops.push(device(dst, false));
  return hops;
}
