// Cycle costs of crossing into the hypervisor: VM exits (VT-x/AMD-V), Xen hypercalls and traps, I/O paths.
// Exit round trips from REFERENCES.md (LKML 2020 SVM thread; Intel 2009); the rest derived below, unverified.

import type { ExitReason } from "../exits";
import type { Hypercall } from "../hypercalls";
import { PACKETS_PER_BATCH } from "./devices";

// The exit reasons are the simulation's shared vocabulary; cpu files keep importing them from here.
export { EXIT_REASONS, type ExitReason } from "../exits";

// So are the hypercall names, which the memory model counts too.
export { HYPERCALLS, type Hypercall } from "../hypercalls";

/**
 * Entries into Xen that a PV guest does not ask for: a privileged instruction faults (#GP) and Xen
 * emulates it, and on x86-64 every guest system call bounces through Xen because the PV kernel runs
 * in ring 3 beside its applications.
 */
export const PV_TRAPS = ["emulated_op", "syscall"] as const;
export type PvTrap = (typeof PV_TRAPS)[number];

export interface CycleCosts {
  /** Core clock; every cycle figure below is converted to time with it. */
  freqGhz: number;
  /** Hardware exit plus re-entry with the exit handled in the kernel: ~1,350 cycles VMRUN→exit (LKML, Dec 2020). */
  vmExitRoundTrip: number;
  /** Exit that has to reach a user-space device model: a whole KVM_RUN round trip, ~2,550 cycles (same thread). */
  userspaceExitRoundTrip: number;
  /** Work in root mode after the exit, per reason. */
  exitHandler: Record<ExitReason, number>;
  /** Entry into Xen from a PV guest and back; see the derivation beside DEFAULT_COSTS. */
  pvHypercallEntry: number;
  hypercallHandler: Record<Hypercall, number>;
  pvTrapHandler: Record<PvTrap, number>;
  /** Switching a host thread between a vCPU and something else (save/restore plus cache warm-up). */
  contextSwitch: number;
  /** Extra cache and TLB refill when a vCPU resumes on another physical thread. */
  vcpuMigration: number;
  /** KVM halt polling window (halt_poll_ns, 200 µs on x86): a wake-up inside it avoids a host switch. */
  haltPollNs: number;
  /** Guest-side driver and stack work, paid whatever the path. */
  guestPerPacket: number;
  guestPerIo: number;
  /** Host-side software backends, per packet / per I/O (zero when a Nitro card does it). */
  vhostPerPacket: number;
  vhostPerIo: number;
  netbackPerPacket: number;
  blkbackPerIo: number;
  deviceModelPerPacket: number;
  deviceModelPerIo: number;
  /** Register accesses an emulated (non-paravirtual) NIC or disk needs per packet / per request. */
  emulatedAccessesPerOp: number;
  /**
   * One page-walk memory reference the memory model counts (one the page-walk caches, where enabled, did
   * not absorb), priced as an L2 hit: 11–13 cycles on Skylake-SP (AnandTech's Skylake-X review, 2017; the
   * L1 takes 4). A walk's entries have dropped out of L1 by the time the TLB misses on their page again.
   */
  pageWalkReference: number;
  /** Host swap-in of a guest page evicted under memory pressure, handled behind an EPT violation. */
  hostSwapIn: number;
}

/**
 * Xen PV hypercall entry, derived because no measured figure was found: on x86-64 a PV kernel issues
 * `syscall` into Xen, which saves the guest frame, dispatches through the hypercall table and returns
 * with `sysret`/`iret`. That is the same hardware path as a native null system call (~100–250 cycles on
 * Skylake-class cores before Meltdown mitigations, unverified) plus Xen's frame save/restore and table
 * dispatch, which is of the same order again. So a null PV hypercall ≈ 2 × 250 = 500 cycles, well under a
 * VM exit round trip (1,350), which is the one reason PV beat early VT-x. An HVM guest pays a VMCALL exit
 * instead, so its hypercalls cost vmExitRoundTrip + handler.
 */
const PV_HYPERCALL_ENTRY = 2 * 250;

const FREQ_GHZ = 3.0;
const GRANT_TABLE_OP = 1500;

/**
 * The split-driver network path, calibrated on one published figure. Before their optimizations Ram et
 * al. (VEE 2009) measured a guest's throughput through the driver domain at 2.9 Gb/s on a 10 GbE link,
 * with the driver domain the bottleneck (multi-queue NICs and grant reuse moved it to the guest and
 * reached line rate). Netback then moved a vif's packets on one dom0 thread (devices.ts), so one thread
 * moved 2.9 Gb/s: at full-size 1,500-byte frames that is 241,667 packets a second, 12,414 cycles each on
 * the model's 3 GHz core (the paper's own clock is not used: the calibration keeps the throughput). The
 * grant-copy hypercall of each batch of packets takes its share; netback's per-packet work is the rest.
 * Validated against a second figure in the tests: Santos et al. (USENIX ATC 2008) cut the receive path's
 * cost by 56%, which raises the ceiling in proportion.
 */
export const SPLIT_DRIVER_CEILING_GBPS = 2.9;
export const SPLIT_DRIVER_FRAME_BYTES = 1500;
const DOM0_CYCLES_PER_PACKET =
  (FREQ_GHZ * 1e9) / ((SPLIT_DRIVER_CEILING_GBPS * 1e9) / (SPLIT_DRIVER_FRAME_BYTES * 8));
const NETBACK_PER_PACKET = Math.round(
  DOM0_CYCLES_PER_PACKET - (PV_HYPERCALL_ENTRY + GRANT_TABLE_OP) / PACKETS_PER_BATCH,
);

/**
 * Defaults. Handler costs, backend per-packet and per-I/O costs are estimates of the right order
 * (a native Linux receive path is a few thousand cycles per packet; a split driver repeats it in dom0 and
 * adds a grant copy of the payload), marked unverified; override them through HostDescription.costs.
 */
export const DEFAULT_COSTS: CycleCosts = {
  freqGhz: FREQ_GHZ,
  vmExitRoundTrip: 1350,
  userspaceExitRoundTrip: 2550,
  exitHandler: {
    cpuid: 150,
    msr_read: 150,
    msr_write: 400,
    cr_access: 300,
    hlt: 500,
    io_instruction: 1000,
    ept_violation: 2500,
    external_interrupt: 600,
    apic_access: 700,
    vmcall: 300,
  },
  pvHypercallEntry: PV_HYPERCALL_ENTRY,
  hypercallHandler: {
    mmu_update: 400,
    mmuext_op: 600,
    set_segment_base: 100,
    sched_op: 500,
    set_timer_op: 300,
    event_channel_op: 300,
    grant_table_op: GRANT_TABLE_OP,
    physdev_op: 400,
    memory_op: 2000,
  },
  pvTrapHandler: { emulated_op: 1500, syscall: 300 },
  contextSwitch: 3000,
  vcpuMigration: 20000,
  haltPollNs: 200_000,
  guestPerPacket: 1500,
  guestPerIo: 5000,
  vhostPerPacket: 3000,
  vhostPerIo: 8000,
  // Calibrated above on Ram et al.'s 2.9 Gb/s.
  netbackPerPacket: NETBACK_PER_PACKET,
  blkbackPerIo: 12000,
  deviceModelPerPacket: 6000,
  deviceModelPerIo: 15000,
  emulatedAccessesPerOp: 4,
  pageWalkReference: 12,
  hostSwapIn: 60000,
};

export type CostOverrides = Partial<
  Omit<CycleCosts, "exitHandler" | "hypercallHandler" | "pvTrapHandler"> & {
    exitHandler: Partial<CycleCosts["exitHandler"]>;
    hypercallHandler: Partial<CycleCosts["hypercallHandler"]>;
    pvTrapHandler: Partial<CycleCosts["pvTrapHandler"]>;
  }
>;

export function resolveCosts(overrides: CostOverrides = {}): CycleCosts {
  return {
    ...DEFAULT_COSTS,
    ...overrides,
    exitHandler: { ...DEFAULT_COSTS.exitHandler, ...overrides.exitHandler },
    hypercallHandler: { ...DEFAULT_COSTS.hypercallHandler, ...overrides.hypercallHandler },
    pvTrapHandler: { ...DEFAULT_COSTS.pvTrapHandler, ...overrides.pvTrapHandler },
  };
}
