// Shared arrangements for the CPU model's tests: a c5.24xlarge-sized host and c5/m5-like instance caps.
import { findInstanceType } from "../../../src/sim/catalog";
import {
  type CycleCosts,
  DEFAULT_COSTS,
  type HostDescription,
  HYPERCALLS,
  type InstanceCaps,
  PV_TRAPS,
  type VmCpuCounters,
} from "../../../src/sim/cpu";

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

/**
 * A paravirtual guest's time in Xen as its counts price it, by costs.ts and with no VM exit among them:
 * each hypercall and trap at the PV entry plus its handler, Xen's handling of the physical IRQ behind each
 * PHYSDEVOP_eoi, host swap-ins, and the scheduler's context switches and vCPU migrations. What the model
 * charged besides these (an exit on any path) makes the guest's hypervisor cycles exceed it.
 */
export function pvEntryCycles(c: VmCpuCounters, costs: CycleCosts = DEFAULT_COSTS): number {
  let cycles = 0;
  for (const h of HYPERCALLS)
    cycles += c.hypercalls[h] * (costs.pvHypercallEntry + costs.hypercallHandler[h]);
  for (const t of PV_TRAPS) cycles += c.pvTraps[t] * (costs.pvHypercallEntry + costs.pvTrapHandler[t]);
  return (
    cycles +
    c.hypercalls.physdev_op * costs.exitHandler.external_interrupt +
    c.memory.swapFaults * costs.hostSwapIn +
    c.contextSwitches * costs.contextSwitch +
    c.vcpuMigrations * costs.vcpuMigration
  );
}

/**
 * How far a paravirtual guest's time in Xen may exceed `pvEntryCycles` over `seconds` when the host slowed
 * it: each second's counts and cycles are scaled and rounded apart (host-cpu.ts), so each kind it counted
 * may be off by half a count's price, and the cycles by half a cycle. An exit on any path adds at least
 * costs.vmExitRoundTrip each time, which this bound leaves no room for at the rates exits come.
 */
export function pvRoundingSlack(
  c: VmCpuCounters,
  seconds: number,
  costs: CycleCosts = DEFAULT_COSTS,
): number {
  let perSecond = 0.5;
  for (const h of HYPERCALLS)
    if (c.hypercalls[h] > 0) perSecond += 0.5 * (costs.pvHypercallEntry + costs.hypercallHandler[h]);
  for (const t of PV_TRAPS)
    if (c.pvTraps[t] > 0) perSecond += 0.5 * (costs.pvHypercallEntry + costs.pvTrapHandler[t]);
  if (c.hypercalls.physdev_op > 0) perSecond += 0.5 * costs.exitHandler.external_interrupt;
  if (c.memory.swapFaults > 0) perSecond += 0.5 * costs.hostSwapIn;
  if (c.contextSwitches > 0) perSecond += 0.5 * costs.contextSwitch;
  if (c.vcpuMigrations > 0) perSecond += 0.5 * costs.vcpuMigration;
  return perSecond * seconds;
}
