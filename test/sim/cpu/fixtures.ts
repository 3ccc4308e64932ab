// Shared arrangements for the CPU model's tests: a c5.24xlarge-sized host and c5/m5-like instance caps.
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
