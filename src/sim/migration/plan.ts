// A migration of one instance as the fleet asks for it: its guest's writes derived from its workload,
// the wire between hosts, and the policy its hypervisor runs, made into a MigrationSetup and run.

import type { HostHypervisor } from "../catalog";
import { resolveWorkload, type WorkloadSpec } from "../cpu";
import type { GuestWrites } from "./guest-writes";
import { type MigrationMode, type MigrationReport, runMigration } from "./live-migration";
import { MBIT, MIB } from "./policy";
import { QemuPolicy } from "./qemu-policy";
import { switchoverCosts } from "./switchover";
import { XenPolicy } from "./xen-policy";

export type PolicyName = "xen" | "qemu";

/** What a caller may choose; everything else follows from the instance and its hosts. */
export interface MigrationParams {
  mode: MigrationMode;
  /** Xen's xc_linux_save on a Xen host, QEMU's elsewhere, unless the caller picks. */
  policy?: PolicyName;
  /** QEMU's max-bandwidth, or Xen's maximum rate (its minimum stays 100 Mbit/s, or this if lower). */
  bandwidthMbps?: number;
  /** QEMU's downtime-limit. */
  downtimeLimitMs?: number;
  autoConverge?: boolean;
  /** QEMU: switch to post-copy when the rounds do not converge, instead of aborting. */
  postcopyOnNonConvergence?: boolean;
  /** The guest's writes, when the caller knows them better than its workload profile says. */
  guest?: GuestWrites;
}

/** Estimate: the hosts' migration network, 10 Gbit/s. */
export const MIGRATION_LINK_BPS = 10_000 * MBIT;
/** Estimate (as the Clark et al. test assumes): the writable working set is 3% of memory. */
export const WWS_SHARE = 0.03;
/**
 * Estimate: one write in ten lands outside the working set. (A rate per page of memory, as the Clark et
 * al. test assumes for its small guests, would have a 256 GiB guest rewrite a gigabit's worth of pages
 * by size alone.)
 */
export const COLD_SHARE_OF_WRITES = 0.1;

/**
 * The guest's writes from its workload profile: the distinct pages it touches per busy second
 * (perBusySecond.pageTouches), times how busy its vCPUs are and the share of its accesses that store
 * (writeShare), land in its writable working set.
 */
export function guestWritesOf(workload: WorkloadSpec, memoryBytes: number, vcpus: number): GuestWrites {
  const w = resolveWorkload(workload);
  const pages = memoryBytes / 4096;
  const writes = w.perBusySecond.pageTouches * w.utilization * vcpus * w.writeShare;
  return {
    hotBytes: Math.round(pages * WWS_SHARE) * 4096,
    hotWritesPerSec: writes * (1 - COLD_SHARE_OF_WRITES),
    coldWritesPerSec: writes * COLD_SHARE_OF_WRITES,
  };
}

export function defaultPolicy(hypervisor: HostHypervisor): PolicyName {
  return hypervisor === "xen" ? "xen" : "qemu";
}

export function planMigration(
  instance: { memoryMiB: number; vcpus: number; workload: WorkloadSpec },
  hypervisor: HostHypervisor,
  params: MigrationParams,
  seed: number,
): MigrationReport {
  const memoryBytes = instance.memoryMiB * MIB;
  const linkBps = MIGRATION_LINK_BPS;
  const name = params.policy ?? defaultPolicy(hypervisor);
  const bandwidthBps = params.bandwidthMbps !== undefined ? params.bandwidthMbps * MBIT : undefined;
  const policy =
    name === "xen"
      ? new XenPolicy(
          bandwidthBps !== undefined
            ? { maxMbps: bandwidthBps / MBIT, minMbps: Math.min(100, bandwidthBps / MBIT) }
            : {},
        )
      : new QemuPolicy(
          {
            ...(bandwidthBps !== undefined ? { maxBandwidthBps: bandwidthBps } : {}),
            ...(params.downtimeLimitMs !== undefined ? { downtimeLimitMs: params.downtimeLimitMs } : {}),
            autoConverge: params.autoConverge ?? false,
            postcopy: params.postcopyOnNonConvergence ?? false,
          },
          linkBps,
        );
  return runMigration({
    memoryBytes,
    vcpus: instance.vcpus,
    linkBps,
    guest: params.guest ?? guestWritesOf(instance.workload, memoryBytes, instance.vcpus),
    policy,
    mode: params.mode,
    switchover: switchoverCosts(hypervisor),
    seed,
  });
}
