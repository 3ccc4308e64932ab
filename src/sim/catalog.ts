// The EC2 instance-type catalog as data, and the host hardware that serves each family.
// Sizes and network bandwidths from describe-instance-types (see shared REFERENCES.md); EBS
// baseline and maximum bandwidth and IOPS (16 KiB I/O) as the EC2 user guide's "Amazon
// EBS-optimized instances" tables list them (m3's, a previous generation, recalled: see m3Sizes).
// Virtualization types and enhanced networking of the Xen families after EC2's user guide
// (REFERENCES.md, "Xen and EC2's Xen families").

import type { HostHardware } from "./admission";

export type Hypervisor = "nitro" | "xen";
/** What a host may run: the instance types' hypervisors, or a hosted (Type 2) one for teaching. */
export type HostHypervisor = Hypervisor | "type2";
export type Family = "c5" | "m5" | "r5" | "c5d" | "m5d" | "r5d" | "c4" | "m4" | "r4" | "m3";

/**
 * How a guest is virtualized, named as DescribeInstances' `VirtualizationType` names it: `hvm` runs
 * an unmodified kernel under VT-x (on EPT), `paravirtual` a kernel ported to Xen that makes hypercalls,
 * pages directly and does all its I/O through dom0's back ends.
 */
export const VIRTUALIZATION_TYPES = ["hvm", "paravirtual"] as const;
export type VirtualizationType = (typeof VIRTUALIZATION_TYPES)[number];

/**
 * "Enhanced networking": a network device the guest drives itself, so its packets bypass the
 * hypervisor's software switch. `ena` is the Elastic Network Adapter (every Nitro type, and on Xen
 * r4 and m4.16xlarge); `intel-82599-vf` an SR-IOV virtual function of an Intel 82599 NIC (the
 * ixgbevf driver: c4 and the other m4 sizes). Null where the type had none (m3).
 */
export type EnhancedNetworking = "ena" | "intel-82599-vf" | null;

export interface InstanceType {
  name: string;
  family: Family;
  size: string;
  hypervisor: Hypervisor;
  vcpus: number;
  memoryMiB: number;
  /** Sustained network bandwidth; `networkBurstGbps` is the "up to" figure where there is one. */
  networkGbps: number;
  networkBurstGbps: number;
  networkPerformance: string;
  ebsBaselineMbps: number;
  ebsBurstMbps: number;
  ebsBaselineIops: number;
  /** The maximum IOPS of a type that bursts for 30 minutes a day; the baseline otherwise. */
  ebsBurstIops: number;
  /** Local instance storage: disks x GB each (0 disks when EBS only); NVMe on Nitro, SATA SSDs on m3. */
  instanceStorage: { disks: number; diskGB: number; totalGB: number; nvme: boolean };
  /** What a launch may choose, as DescribeInstanceTypes' `SupportedVirtualizationTypes`; the first is the default. */
  virtualizationTypes: readonly VirtualizationType[];
  enhancedNetworking: EnhancedNetworking;
}

interface SizeRow {
  size: string;
  vcpus: number;
  networkGbps: number;
  burstGbps?: number;
  performance?: string;
  ebsMbps: number;
  ebsBurstMbps?: number;
  iops: number;
  iopsBurst?: number;
  storage?: [number, number];
}

// c5: 2 GiB per vCPU. Network rows per REFERENCES.md, EBS rows per the EBS-optimized tables.
const c5Sizes: SizeRow[] = [
  {
    size: "large",
    vcpus: 2,
    networkGbps: 0.75,
    burstGbps: 10,
    ebsMbps: 650,
    ebsBurstMbps: 4750,
    iopsBurst: 20000,
    iops: 4000,
    storage: [1, 50],
  },
  {
    size: "xlarge",
    vcpus: 4,
    networkGbps: 1.25,
    burstGbps: 10,
    ebsMbps: 1150,
    ebsBurstMbps: 4750,
    iopsBurst: 20000,
    iops: 6000,
    storage: [1, 100],
  },
  {
    size: "2xlarge",
    vcpus: 8,
    networkGbps: 2.5,
    burstGbps: 10,
    ebsMbps: 2300,
    ebsBurstMbps: 4750,
    iopsBurst: 20000,
    iops: 10000,
    storage: [1, 200],
  },
  {
    size: "4xlarge",
    vcpus: 16,
    networkGbps: 5,
    burstGbps: 10,
    ebsMbps: 4750,
    iops: 20000,
    storage: [1, 400],
  },
  { size: "9xlarge", vcpus: 36, networkGbps: 10, ebsMbps: 9500, iops: 40000, storage: [1, 900] },
  { size: "12xlarge", vcpus: 48, networkGbps: 12, ebsMbps: 9500, iops: 40000, storage: [2, 900] },
  { size: "18xlarge", vcpus: 72, networkGbps: 25, ebsMbps: 19000, iops: 80000, storage: [2, 900] },
  { size: "24xlarge", vcpus: 96, networkGbps: 25, ebsMbps: 19000, iops: 80000, storage: [4, 900] },
];

// m5 (r5 follows m5, per REFERENCES.md).
const m5Sizes: SizeRow[] = [
  {
    size: "large",
    vcpus: 2,
    networkGbps: 0.75,
    burstGbps: 10,
    ebsMbps: 650,
    ebsBurstMbps: 4750,
    iopsBurst: 18750,
    iops: 3600,
    storage: [1, 75],
  },
  {
    size: "xlarge",
    vcpus: 4,
    networkGbps: 1.25,
    burstGbps: 10,
    ebsMbps: 1150,
    ebsBurstMbps: 4750,
    iopsBurst: 18750,
    iops: 6000,
    storage: [1, 150],
  },
  {
    size: "2xlarge",
    vcpus: 8,
    networkGbps: 2.5,
    burstGbps: 10,
    ebsMbps: 2300,
    ebsBurstMbps: 4750,
    iopsBurst: 18750,
    iops: 12000,
    storage: [1, 300],
  },
  {
    size: "4xlarge",
    vcpus: 16,
    networkGbps: 5,
    burstGbps: 10,
    ebsMbps: 4750,
    iops: 18750,
    storage: [2, 300],
  },
  { size: "8xlarge", vcpus: 32, networkGbps: 10, ebsMbps: 6800, iops: 30000, storage: [2, 600] },
  { size: "12xlarge", vcpus: 48, networkGbps: 10, ebsMbps: 9500, iops: 40000, storage: [2, 900] },
  { size: "16xlarge", vcpus: 64, networkGbps: 20, ebsMbps: 13600, iops: 60000, storage: [4, 600] },
  { size: "24xlarge", vcpus: 96, networkGbps: 25, ebsMbps: 19000, iops: 80000, storage: [4, 900] },
];

// Xen-era families: memory per size is irregular, so it is listed (GiB).
const c4Sizes: (SizeRow & { memGiB: number })[] = [
  {
    size: "large",
    vcpus: 2,
    memGiB: 3.75,
    networkGbps: 0.5,
    performance: "Moderate",
    ebsMbps: 500,
    iops: 4000,
  },
  { size: "xlarge", vcpus: 4, memGiB: 7.5, networkGbps: 1, performance: "High", ebsMbps: 750, iops: 6000 },
  { size: "2xlarge", vcpus: 8, memGiB: 15, networkGbps: 1, performance: "High", ebsMbps: 1000, iops: 8000 },
  { size: "4xlarge", vcpus: 16, memGiB: 30, networkGbps: 2, performance: "High", ebsMbps: 2000, iops: 16000 },
  { size: "8xlarge", vcpus: 36, memGiB: 60, networkGbps: 10, ebsMbps: 4000, iops: 32000 },
];
const m4Sizes: (SizeRow & { memGiB: number })[] = [
  { size: "large", vcpus: 2, memGiB: 8, networkGbps: 0.5, performance: "Moderate", ebsMbps: 450, iops: 3600 },
  { size: "xlarge", vcpus: 4, memGiB: 16, networkGbps: 1, performance: "High", ebsMbps: 750, iops: 6000 },
  { size: "2xlarge", vcpus: 8, memGiB: 32, networkGbps: 1, performance: "High", ebsMbps: 1000, iops: 8000 },
  { size: "4xlarge", vcpus: 16, memGiB: 64, networkGbps: 2, performance: "High", ebsMbps: 2000, iops: 16000 },
  { size: "10xlarge", vcpus: 40, memGiB: 160, networkGbps: 10, ebsMbps: 4000, iops: 32000 },
  { size: "16xlarge", vcpus: 64, memGiB: 256, networkGbps: 25, ebsMbps: 10000, iops: 65000 },
];
const r4Sizes: (SizeRow & { memGiB: number })[] = [
  { size: "large", vcpus: 2, memGiB: 15.25, networkGbps: 0.75, burstGbps: 10, ebsMbps: 425, iops: 3000 },
  { size: "xlarge", vcpus: 4, memGiB: 30.5, networkGbps: 1.25, burstGbps: 10, ebsMbps: 850, iops: 6000 },
  { size: "2xlarge", vcpus: 8, memGiB: 61, networkGbps: 2.5, burstGbps: 10, ebsMbps: 1700, iops: 12000 },
  { size: "4xlarge", vcpus: 16, memGiB: 122, networkGbps: 5, burstGbps: 10, ebsMbps: 3500, iops: 18750 },
  { size: "8xlarge", vcpus: 32, memGiB: 244, networkGbps: 10, ebsMbps: 7000, iops: 37500 },
  { size: "16xlarge", vcpus: 64, memGiB: 488, networkGbps: 25, ebsMbps: 14000, iops: 75000 },
];

// m3 (2014, Ivy Bridge): the last general-purpose family sold with both PV and HVM AMIs, and without
// enhanced networking. vCPUs, memory and SSD instance storage as EC2 listed them; "Moderate" and "High"
// are taken as 0.5 and 1 Gbps as for c4/m4. Only xlarge and 2xlarge could be EBS-optimized (500 and
// 1,000 Mbps; 4,000 and 8,000 IOPS, recalled); medium and large shared the network link with EBS, so
// they get the link's figures (approximate).
const m3Sizes: (SizeRow & { memGiB: number })[] = [
  {
    size: "medium",
    vcpus: 1,
    memGiB: 3.75,
    networkGbps: 0.5,
    performance: "Moderate",
    ebsMbps: 500,
    iops: 4000,
    storage: [1, 4],
  },
  {
    size: "large",
    vcpus: 2,
    memGiB: 7.5,
    networkGbps: 0.5,
    performance: "Moderate",
    ebsMbps: 500,
    iops: 4000,
    storage: [1, 32],
  },
  {
    size: "xlarge",
    vcpus: 4,
    memGiB: 15,
    networkGbps: 1,
    performance: "High",
    ebsMbps: 500,
    iops: 4000,
    storage: [2, 40],
  },
  {
    size: "2xlarge",
    vcpus: 8,
    memGiB: 30,
    networkGbps: 1,
    performance: "High",
    ebsMbps: 1000,
    iops: 8000,
    storage: [2, 80],
  },
];

/** How each family is virtualized and networked: Nitro and the Xen families after them are HVM only. */
interface FamilyTraits {
  hypervisor: Hypervisor;
  virtualizationTypes: readonly VirtualizationType[];
  /** Enhanced networking per size; sizes not listed take `enhancedNetworking`. */
  enhancedNetworking: EnhancedNetworking;
  enhancedNetworkingBySize?: Readonly<Record<string, EnhancedNetworking>>;
  /** Instance storage on NVMe (Nitro's d sizes) rather than SATA SSDs behind blkback (m3). */
  nvme: boolean;
}

const NITRO: FamilyTraits = {
  hypervisor: "nitro",
  virtualizationTypes: ["hvm"],
  enhancedNetworking: "ena",
  nvme: true,
};
const FAMILY_TRAITS: Readonly<Record<Family, FamilyTraits>> = {
  c5: NITRO,
  m5: NITRO,
  r5: NITRO,
  c5d: NITRO,
  m5d: NITRO,
  r5d: NITRO,
  // EC2 required HVM AMIs for c4, m4 and r4, with SR-IOV networking.
  c4: { hypervisor: "xen", virtualizationTypes: ["hvm"], enhancedNetworking: "intel-82599-vf", nvme: false },
  m4: {
    hypervisor: "xen",
    virtualizationTypes: ["hvm"],
    enhancedNetworking: "intel-82599-vf",
    enhancedNetworkingBySize: { "16xlarge": "ena" },
    nvme: false,
  },
  r4: { hypervisor: "xen", virtualizationTypes: ["hvm"], enhancedNetworking: "ena", nvme: false },
  m3: {
    hypervisor: "xen",
    virtualizationTypes: ["hvm", "paravirtual"],
    enhancedNetworking: null,
    nvme: false,
  },
};

function performanceLabel(row: SizeRow): string {
  if (row.performance) return row.performance;
  if (row.burstGbps) return `Up to ${row.burstGbps} Gigabit`;
  return `${row.networkGbps} Gigabit`;
}

function build(
  family: Family,
  rows: SizeRow[],
  memoryMiB: (row: SizeRow) => number,
  withStorage: boolean,
): InstanceType[] {
  const traits = FAMILY_TRAITS[family];
  return rows.map((row) => {
    const [disks, diskGB] = withStorage && row.storage ? row.storage : [0, 0];
    return {
      name: `${family}.${row.size}`,
      family,
      size: row.size,
      hypervisor: traits.hypervisor,
      vcpus: row.vcpus,
      memoryMiB: memoryMiB(row),
      networkGbps: row.networkGbps,
      networkBurstGbps: row.burstGbps ?? row.networkGbps,
      networkPerformance: performanceLabel(row),
      ebsBaselineMbps: row.ebsMbps,
      ebsBurstMbps: row.ebsBurstMbps ?? row.ebsMbps,
      ebsBaselineIops: row.iops,
      ebsBurstIops: row.iopsBurst ?? row.iops,
      instanceStorage: { disks, diskGB, totalGB: disks * diskGB, nvme: traits.nvme && disks > 0 },
      virtualizationTypes: traits.virtualizationTypes,
      enhancedNetworking: traits.enhancedNetworkingBySize?.[row.size] ?? traits.enhancedNetworking,
    };
  });
}

const perVcpu = (gib: number) => (row: SizeRow) => row.vcpus * gib * 1024;
const listed = (row: SizeRow) => Math.round((row as SizeRow & { memGiB: number }).memGiB * 1024);

export const INSTANCE_TYPES: readonly InstanceType[] = [
  ...build("c5", c5Sizes, perVcpu(2), false),
  ...build("c5d", c5Sizes, perVcpu(2), true),
  ...build("m5", m5Sizes, perVcpu(4), false),
  ...build("m5d", m5Sizes, perVcpu(4), true),
  ...build("r5", m5Sizes, perVcpu(8), false),
  ...build("r5d", m5Sizes, perVcpu(8), true),
  ...build("c4", c4Sizes, listed, false),
  ...build("m4", m4Sizes, listed, false),
  ...build("r4", r4Sizes, listed, false),
  ...build("m3", m3Sizes, listed, true),
];

const byName = new Map(INSTANCE_TYPES.map((t) => [t.name, t]));

export function findInstanceType(name: string): InstanceType | undefined {
  return byName.get(name);
}

export const FAMILIES: readonly Family[] = ["c5", "m5", "r5", "c5d", "m5d", "r5d", "c4", "m4", "r4", "m3"];

/**
 * Whether a family's guests get enhanced networking by default: on a host of it, the `sriov` switch
 * starts on (every Nitro and c4/m4/r4 type has it; m3 had none).
 */
export function offersEnhancedNetworking(family: Family): boolean {
  return INSTANCE_TYPES.every((t) => t.family !== family || t.enhancedNetworking !== null);
}

/** A host's hardware, with what the virtualization layer keeps for itself. */
export interface HostShape extends HostHardware {
  family: Family;
  hypervisor: Hypervisor;
}

// A host is sized so that its largest instance size fits exactly once after the
// hypervisor's reservation: that is how EC2 sells the 24xlarge (the whole box).
// Nitro keeps almost nothing on the host (its I/O runs on Nitro cards); Xen's dom0
// keeps whole cores and memory for the split-driver back ends.
const NITRO_RESERVED_MEMORY_MIB = 1024;

// m3's Ivy Bridge host (2 x Xeon E5-2670 v2: 10 cores, 2 threads each) is shared by several instances,
// unlike the boxes above: dom0 keeps two cores, as on the c4 host, and the other 36 threads sell at m3's
// 3.75 GiB and 20 GB of SSD per vCPU (its xlarge and 2xlarge ratio), so four m3.2xlarge fit with room over.
const M3_HOST = { coresPerSocket: 10, dom0Threads: 4, memGiBPerVcpu: 3.75, ssdGBPerVcpu: 20 };

function shapeFor(family: Family): HostShape {
  const types = INSTANCE_TYPES.filter((t) => t.family === family);
  const largest = types.reduce((a, b) => (b.vcpus > a.vcpus ? b : a));
  const hypervisor = largest.hypervisor;
  if (family === "m3") {
    const threads = 2 * M3_HOST.coresPerSocket * 2;
    const guestThreads = threads - M3_HOST.dom0Threads;
    const dom0MemoryMiB = 4096;
    return {
      family,
      hypervisor,
      sockets: 2,
      coresPerSocket: M3_HOST.coresPerSocket,
      threadsPerCore: 2,
      memoryMiB: guestThreads * M3_HOST.memGiBPerVcpu * 1024 + dom0MemoryMiB,
      reservedThreads: M3_HOST.dom0Threads,
      reservedMemoryMiB: dom0MemoryMiB,
      nvmeGB: guestThreads * M3_HOST.ssdGBPerVcpu,
    };
  }
  if (hypervisor === "nitro") {
    // Skylake/Cascade Lake 2-socket boxes: 2 x 24 cores x 2 threads = 96 threads.
    return {
      family,
      hypervisor,
      sockets: 2,
      coresPerSocket: 24,
      threadsPerCore: 2,
      memoryMiB: largest.memoryMiB + NITRO_RESERVED_MEMORY_MIB,
      reservedThreads: 0,
      reservedMemoryMiB: NITRO_RESERVED_MEMORY_MIB,
      nvmeGB: largest.instanceStorage.totalGB,
    };
  }
  // Haswell/Broadwell boxes with dom0 pinned to its own cores: c4.8xlarge (36 vCPUs) on
  // 2 x 10 x 2 threads leaves 4 for dom0; m4/r4.16xlarge (64) on 2 x 18 x 2 leaves 8.
  const coresPerSocket = family === "c4" ? 10 : 18;
  const threads = 2 * coresPerSocket * 2;
  const dom0MemoryMiB = Math.max(4096, Math.round(largest.memoryMiB / 16));
  return {
    family,
    hypervisor,
    sockets: 2,
    coresPerSocket,
    threadsPerCore: 2,
    memoryMiB: largest.memoryMiB + dom0MemoryMiB,
    reservedThreads: threads - largest.vcpus,
    reservedMemoryMiB: dom0MemoryMiB,
    nvmeGB: 0,
  };
}

export const HOST_SHAPES: Readonly<Record<Family, HostShape>> = Object.fromEntries(
  FAMILIES.map((f) => [f, shapeFor(f)]),
) as Record<Family, HostShape>;

// A hosted hypervisor (a desktop VMM on a general-purpose OS), for teaching: the host OS
// keeps memory of its own and competes with guests for every thread, so none is reserved.
const HOSTED_OS_MEMORY_MIB = 8192;

export function hostedShape(family: Family): Omit<HostShape, "hypervisor"> & { hypervisor: "type2" } {
  const base = shapeFor(family);
  const guestMemoryMiB = base.memoryMiB - base.reservedMemoryMiB;
  return {
    ...base,
    hypervisor: "type2",
    reservedThreads: 0,
    memoryMiB: guestMemoryMiB + HOSTED_OS_MEMORY_MIB,
    reservedMemoryMiB: HOSTED_OS_MEMORY_MIB,
  };
}
