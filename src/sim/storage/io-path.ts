// One 4 KiB block I/O through an instance's storage path: what it costs on the CPU model's cost table
// (the guest's driver, then the Nitro card, or Xen's blkback in dom0, or a host-side back end), and when
// it completes once the instance type's EBS allowances, the volume's own limits and the back end's one
// thread have each let it through. Each limit is a GCRA gate (the virtual-scheduling form of a token
// bucket, ITU-T I.371): under sustained load the I/Os leave at the slowest gate's rate.
import { type CycleCosts, DEFAULT_COSTS } from "../cpu/costs";
import {
  type Backend,
  BLKBACK_THREADS,
  type BlockPath,
  blockBackend,
  blockPath,
  CARD_NS_PER_IO,
} from "../cpu/devices";
import type { GuestMode, HypervisorKind, Optimizations } from "../cpu/hypervisor";

export interface IoCost {
  path: BlockPath;
  backend: Backend;
  /** The guest's driver and stack, and entries into the hypervisor it takes for the I/O. */
  guestCycles: number;
  hypervisorCycles: number;
  /** Work in dom0 (Xen's blkback) or in a host-side back end (vhost, a device model). */
  dom0Cycles: number;
  hostCycles: number;
  /** Time on the Nitro card's own processors. */
  cardNs: number;
  /** The most I/Os a second the back end moves: one thread's worth of its per-I/O work, or the card's. */
  backendIops: number;
}

/**
 * One I/O's cost on the paths of devices.ts, with the same per-I/O figures the CPU model charges a
 * workload's I/Os (guest.ts `storage`), taken for a batch of one: a lone I/O coalesces with nothing.
 */
export function ioCost(
  kind: HypervisorKind,
  mode: GuestMode,
  opt: Optimizations,
  costs: CycleCosts = DEFAULT_COSTS,
): IoCost {
  const path = blockPath(kind, mode, opt);
  const backend = blockBackend(kind, path);
  const exit = (reason: keyof CycleCosts["exitHandler"]) => costs.vmExitRoundTrip + costs.exitHandler[reason];
  const hz = costs.freqGhz * 1e9;
  const c: IoCost = {
    path,
    backend,
    guestCycles: costs.guestPerIo,
    hypervisorCycles: 0,
    dom0Cycles: 0,
    hostCycles: 0,
    cardNs: 0,
    backendIops: Number.POSITIVE_INFINITY,
  };
  switch (path) {
    case "nvme_card":
      c.cardNs = CARD_NS_PER_IO;
      // The completion interrupt is posted to the guest without an exit.
      c.backendIops = 1e9 / CARD_NS_PER_IO;
      break;
    case "blkfront": {
      const hcEntry = mode === "pv" ? costs.pvHypercallEntry : exit("vmcall");
      // The guest kicks blkback over an event channel; blkback maps and unmaps the granted page.
      c.hypervisorCycles = hcEntry + costs.hypercallHandler.event_channel_op;
      if (mode === "hvm") c.hypervisorCycles += exit("external_interrupt");
      c.dom0Cycles =
        costs.blkbackPerIo + 2 * (costs.pvHypercallEntry + costs.hypercallHandler.grant_table_op);
      c.backendIops = (BLKBACK_THREADS * hz) / c.dom0Cycles;
      break;
    }
    case "virtio_blk":
      c.hypervisorCycles = exit("io_instruction") + exit("external_interrupt");
      c.hostCycles = costs.vhostPerIo;
      c.backendIops = hz / c.hostCycles;
      break;
    case "emulated": {
      const accesses = costs.emulatedAccessesPerOp;
      c.hypervisorCycles = accesses * (costs.userspaceExitRoundTrip + costs.exitHandler.io_instruction);
      const work = costs.deviceModelPerIo;
      if (backend === "dom0") c.dom0Cycles = work;
      else c.hostCycles = work;
      c.backendIops = hz / work;
      break;
    }
  }
  return c;
}

/**
 * A rate limit in units per second (I/Os or bytes); `tat` is when its next unit may start, in ms. With a
 * `toleranceMs`, units may start that much ahead of the rate: a bucket of `rate × toleranceMs / 1000`
 * units that fills at `rate` (GCRA's burst tolerance), full while `tat` lies in the past.
 */
export interface Gate {
  rate: number;
  tat: number;
  toleranceMs?: number;
}

/** When a gate lets its next unit start. */
export const gateOpensAt = (g: Gate): number => g.tat - (g.toleranceMs ?? 0);

/**
 * Passes `units` through every gate at once, starting no earlier than `now` nor than any gate allows;
 * answers when the I/O starts and when the gates let it finish. Gates of Infinity pass anything at once.
 */
export function passGates(
  gates: readonly Gate[],
  units: readonly number[],
  now: number,
): { start: number; done: number } {
  let start = now;
  for (const g of gates) start = Math.max(start, gateOpensAt(g));
  let done = start;
  gates.forEach((g, i) => {
    const ms = Number.isFinite(g.rate) ? (1000 * units[i]) / g.rate : 0;
    g.tat = Math.max(g.tat, start) + ms;
    done = Math.max(done, g.tat - (g.toleranceMs ?? 0));
  });
  return { start, done };
}

/** What is left in a gate's bucket at `now`, as a share of the whole (1 for a gate without one). */
export function bucketShare(g: Gate, now: number): number {
  const tol = g.toleranceMs ?? 0;
  if (tol <= 0) return 1;
  return Math.min(1, Math.max(0, 1 - Math.max(0, g.tat - now) / tol));
}
