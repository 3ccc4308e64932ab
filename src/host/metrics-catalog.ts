// The metrics a host samples, by the names CloudWatch gives the ones it has (CPUUtilization,
// NetworkIn, ...), with their units and the dimensions they carry. Shared by the sampler
// (metrics-sampler.ts), the store (fleet/metrics-store.ts) and the API's validation.

export const METRIC_UNITS = ["Percent", "Count", "Bytes", "Seconds"] as const;
export type MetricUnit = (typeof METRIC_UNITS)[number];

/** Dimensions as CloudWatch names them; ExitReason and Hypercall split a counter by kind. */
export const DIMENSIONS = [
  "InstanceId",
  "HostId",
  "InstanceType",
  "AvailabilityZone",
  "ExitReason",
  "Hypercall",
] as const;
export type DimensionName = (typeof DIMENSIONS)[number];
export type Dimensions = Partial<Record<DimensionName, string>>;

export interface MetricDef {
  unit: MetricUnit;
  /** Whose metric it is: an instance's (its account's) or a host's (the admin's). */
  of: "instance" | "host";
  description: string;
}

export const METRICS = {
  CPUUtilization: {
    unit: "Percent",
    of: "instance",
    description: "guest cycles as a share of the vCPUs' capacity",
  },
  CPUStealPercent: {
    unit: "Percent",
    of: "instance",
    description: "cycles the vCPUs wanted and did not get",
  },
  HypervisorOverheadPercent: {
    unit: "Percent",
    of: "instance",
    description: "cycles spent for the instance outside the guest (hypervisor, dom0, backends)",
  },
  VMExits: { unit: "Count", of: "instance", description: "VM exits; with ExitReason, those of one reason" },
  Hypercalls: {
    unit: "Count",
    of: "instance",
    description: "Xen hypercalls; with Hypercall, those of one kind (Xen only)",
  },
  ContextSwitches: {
    unit: "Count",
    of: "instance",
    description: "host context switches of the vCPU threads",
  },
  MemoryTouchedBytes: {
    unit: "Bytes",
    of: "instance",
    description: "guest-physical bytes the guest has used",
  },
  MemoryBackedBytes: {
    unit: "Bytes",
    of: "instance",
    description: "guest-physical bytes with host frames behind them",
  },
  PageFaults: { unit: "Count", of: "instance", description: "guest page faults" },
  EPTViolations: { unit: "Count", of: "instance", description: "EPT violations (EPT paging only)" },
  TLBHitRate: {
    unit: "Percent",
    of: "instance",
    description: "TLB hits among lookups (only when there were lookups)",
  },
  NetworkIn: { unit: "Bytes", of: "instance", description: "bytes received" },
  NetworkOut: { unit: "Bytes", of: "instance", description: "bytes sent" },
  NetworkPacketsIn: { unit: "Count", of: "instance", description: "packets received" },
  NetworkPacketsOut: { unit: "Count", of: "instance", description: "packets sent" },
  EBSIOs: { unit: "Count", of: "instance", description: "EBS operations done" },
  EBSBytes: { unit: "Bytes", of: "instance", description: "EBS bytes moved" },
  NetworkBwInAllowanceExceeded: {
    unit: "Count",
    of: "instance",
    description: "packets held by the inbound bandwidth allowance",
  },
  NetworkBwOutAllowanceExceeded: {
    unit: "Count",
    of: "instance",
    description: "packets held by the outbound bandwidth allowance",
  },
  NetworkPpsAllowanceExceeded: {
    unit: "Count",
    of: "instance",
    description: "packets held by the packet-rate allowance",
  },
  EBSIOPSExceeded: {
    unit: "Count",
    of: "instance",
    description: "EBS operations held by the instance's or volume's IOPS limit",
  },
  EBSThroughputExceeded: {
    unit: "Count",
    of: "instance",
    description: "EBS operations held by the instance's or volume's throughput limit",
  },
  HostCPUUtilization: { unit: "Percent", of: "host", description: "host CPU used, of all its threads" },
  HostHypervisorOverheadPercent: {
    unit: "Percent",
    of: "host",
    description: "host CPU used outside the guests, of all used",
  },
  Dom0CPUPercent: {
    unit: "Percent",
    of: "host",
    description: "host CPU dom0 used, of all its threads (Xen only)",
  },
  CardOffloadPercent: {
    unit: "Percent",
    of: "host",
    description:
      "guest I/O operations done on Nitro cards or SR-IOV functions (hosts with offload cards only)",
  },
  FreeVcpus: { unit: "Count", of: "host", description: "vCPUs the host can still admit" },
  FreeMemoryMiB: { unit: "Count", of: "host", description: "MiB of memory the host can still admit" },
} as const satisfies Record<string, MetricDef>;

export type MetricName = keyof typeof METRICS;
export const METRIC_NAMES = Object.keys(METRICS) as MetricName[];

/** One value of one sampling round; `dimensions` adds to the resource's own (ExitReason, Hypercall). */
export interface MetricValue {
  metric: MetricName;
  value: number;
  dimensions?: Dimensions;
}

/** One resource's values of one sampling round: one message on the metrics queue. */
export interface MetricsMessage {
  hostId: string;
  /** Simulated time at the end of the window the values cover. */
  time: number;
  windowMs: number;
  /** The instance's account; null for the host's own metrics. */
  accountId: string | null;
  dimensions: Dimensions;
  values: MetricValue[];
}
