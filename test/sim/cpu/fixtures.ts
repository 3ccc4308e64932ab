// Shared arrangements for the CPU model's tests: a c5.24xlarge-sized host and c5/m5-like instance caps.
import { findInstanceType } from "../../../src/sim/catalog";
import type { HostDescription, InstanceCaps } from "../../../src/sim/cpu";

/** Two 24-core sockets with hyper-threading: 96 threads, the host a c5.24xlarge fills. */
export function host96(kind: HostDescription["kind"], extra: Partial<HostDescription> = {}): HostDescription {
  return { kind, sockets: 2, coresPerSocket: 24, threadsPerCore: 2, ...extra };
}

/** c5.2xlarge-like: 8 vCPUs, 16 GiB, up to 10 Gbps, 4,750 Mbps EBS, 20,000 IOPS (REFERENCES.md sizes). */
export const C5_2XL: InstanceCaps = {
  vcpus: 8,
  memoryMiB: 16384,
  networkGbps: 10,
  ebsMbps: 4750,
  ebsIops: 20000,
};

export const C5_LARGE: InstanceCaps = {
  vcpus: 2,
  memoryMiB: 4096,
  networkGbps: 0.75,
  ebsMbps: 650,
  ebsIops: 4000,
};

/**
 * An instance type's caps as a host gives them to the CPU model (sim/host.ts): the catalog's sustained
 * network bandwidth and EBS baseline, not the "up to" figures a guest can only burst to.
 */
export function catalogCaps(name: string): InstanceCaps {
  const t = findInstanceType(name);
  if (!t) throw new Error(`no instance type ${name}`);
  return {
    vcpus: t.vcpus,
    memoryMiB: t.memoryMiB,
    networkGbps: t.networkGbps,
    ebsMbps: t.ebsBaselineMbps,
    ebsIops: t.ebsBaselineIops,
  };
}
