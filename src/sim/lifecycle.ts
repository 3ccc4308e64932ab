// The EC2 instance state machine: states, their codes, what each API action does in each
// state, and how long each transitional state lasts. Codes from the EC2 API reference
// (InstanceState: the low byte); a never-running instance cannot be stopped.

import type { HostHypervisor } from "./catalog";

export const INSTANCE_STATES = [
  "pending",
  "running",
  "shutting-down",
  "terminated",
  "stopping",
  "stopped",
] as const;
export type InstanceState = (typeof INSTANCE_STATES)[number];

export const STATE_CODES: Readonly<Record<InstanceState, number>> = {
  pending: 0,
  running: 16,
  "shutting-down": 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

export type InstanceAction = "start" | "stop" | "reboot" | "terminate";

export type ActionOutcome =
  /** The instance enters `to`; `settlesTo` follows after the state's duration. */
  | { kind: "transition"; to: InstanceState }
  /** Already where the action leads: EC2 answers with the current state and changes nothing. */
  | { kind: "noop" }
  /** Reboot: the instance stays running; the guest restarts. */
  | { kind: "reboot" }
  | { kind: "illegal" };

const TABLE: Record<InstanceState, Partial<Record<InstanceAction, ActionOutcome>>> = {
  pending: {
    // EC2 refuses to stop an instance that has never reached running.
    terminate: { kind: "transition", to: "shutting-down" },
    start: { kind: "noop" },
  },
  running: {
    stop: { kind: "transition", to: "stopping" },
    terminate: { kind: "transition", to: "shutting-down" },
    reboot: { kind: "reboot" },
    start: { kind: "noop" },
  },
  stopping: {
    stop: { kind: "noop" },
    terminate: { kind: "transition", to: "shutting-down" },
  },
  stopped: {
    start: { kind: "transition", to: "pending" },
    stop: { kind: "noop" },
    // A stopped instance holds no host, so it goes straight to terminated.
    terminate: { kind: "transition", to: "terminated" },
  },
  "shutting-down": {
    terminate: { kind: "noop" },
  },
  terminated: {
    terminate: { kind: "noop" },
  },
};

export function decide(state: InstanceState, action: InstanceAction): ActionOutcome {
  return TABLE[state][action] ?? { kind: "illegal" };
}

/** Where a transitional state leads when its time is up; undefined for stable states. */
export function settlesTo(state: InstanceState): InstanceState | undefined {
  switch (state) {
    case "pending":
      return "running";
    case "stopping":
      return "stopped";
    case "shutting-down":
      return "terminated";
    default:
      return undefined;
  }
}

/** States in which the instance holds vCPUs and memory on a host. */
export function occupiesHost(state: InstanceState): boolean {
  return state === "pending" || state === "running" || state === "stopping" || state === "shutting-down";
}

// Simulated durations. EC2 reports most Nitro instances running within seconds of the
// hypervisor handing over, while Xen-era boots went through dom0's toolstack
// (domain build, PV driver handshake), which took noticeably longer. Memory is
// scrubbed before it is handed to a guest, so boot time grows with the instance's memory.
export interface TransitionTimes {
  bootBaseMs: number;
  bootPerGiBMs: number;
  stopMs: number;
  shutdownMs: number;
  rebootMs: number;
}

export const TRANSITION_TIMES: Readonly<Record<HostHypervisor, TransitionTimes>> = {
  nitro: { bootBaseMs: 8_000, bootPerGiBMs: 40, stopMs: 15_000, shutdownMs: 8_000, rebootMs: 20_000 },
  xen: { bootBaseMs: 25_000, bootPerGiBMs: 120, stopMs: 25_000, shutdownMs: 15_000, rebootMs: 40_000 },
  // A desktop VMM boots its guest through emulated firmware and the host OS's scheduler.
  type2: { bootBaseMs: 30_000, bootPerGiBMs: 150, stopMs: 20_000, shutdownMs: 12_000, rebootMs: 45_000 },
};

export function durationOf(state: InstanceState, hypervisor: HostHypervisor, memoryMiB: number): number {
  const t = TRANSITION_TIMES[hypervisor];
  switch (state) {
    case "pending":
      return t.bootBaseMs + Math.round((memoryMiB / 1024) * t.bootPerGiBMs);
    case "stopping":
      return t.stopMs;
    case "shutting-down":
      return t.shutdownMs;
    default:
      return 0;
  }
}

/** How long a terminated instance stays visible in listings (EC2: about an hour). */
export const TERMINATED_VISIBLE_MS = 60 * 60 * 1000;
