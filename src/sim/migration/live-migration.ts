// Live migration of one guest's memory, as Clark et al. (NSDI 2005) describe pre-copy and QEMU runs
// it: round 0 sends all of memory while the guest runs, each later round the pages it dirtied during
// the one before (read from the dirty log), until the policy stops the rounds; then the guest pauses,
// the rest of its dirty pages and its CPU and device state cross, it resumes on the destination and
// the network learns where it went. Post-copy (Hines and Gopalan, VEE 2009) switches first and pulls
// the pages after: the guest faults on what has not arrived, and a failure of the source before the
// last page arrives loses the guest. Deterministic: the same setup and seed give the same report.

import { DirtyLog } from "./dirty-log";
import { GuestWriter, type GuestWrites, PAGE_BYTES } from "./guest-writes";
import type { Decision, MigrationPolicy, RoundView } from "./policy";
import type { SwitchoverCosts } from "./switchover";

export type MigrationMode = "precopy" | "postcopy";

export interface MigrationSetup {
  memoryBytes: number;
  vcpus: number;
  /** The wire between the hosts, bits per second: no round goes faster. */
  linkBps: number;
  guest: GuestWrites;
  policy: MigrationPolicy;
  mode: MigrationMode;
  switchover: SwitchoverCosts;
  seed: number;
  /** Connecting to the destination and creating the empty guest there (query-migrate's setup-time). */
  setupMs?: number;
  /** A post-copy page request's round trip on the wire (a LAN's, by default). */
  rttMs?: number;
  /** Fault injection: ms after the start at which the source or the destination host fails. */
  sourceFailsAtMs?: number | null;
  destinationFailsAtMs?: number | null;
}

/** Estimate: a connection and an empty guest on the destination. */
export const SETUP_MS = 50;
/** Estimate: a round trip inside one datacenter network. */
export const LAN_RTT_MS = 0.2;
/** Post-copy is simulated in steps of this much guest time. */
const POSTCOPY_STEP_MS = 10;

export interface RoundRecord {
  round: number;
  startMs: number;
  durationMs: number;
  pagesSent: number;
  bytesSent: number;
  rateMbps: number;
  /** Pages the guest dirtied during the round. */
  dirtyPages: number;
  dirtyPagesRate: number;
  throttlePct: number;
}

export interface PostcopyRecord {
  startMs: number;
  durationMs: number;
  pagesPushed: number;
  /** Pages the guest faulted on and the destination requested from the source. */
  pagesRequested: number;
  /** vCPU time spent waiting for remote pages. */
  stallMs: number;
  /** Share of the guest's vCPU time lost to remote faults while post-copy ran. */
  slowdown: number;
}

export type MigrationOutcome = "completed" | "aborted" | "lost";

export interface MigrationReport {
  outcome: MigrationOutcome;
  /** The mode it ended in: a pre-copy that switched to post-copy reports postcopy. */
  mode: MigrationMode;
  policy: MigrationPolicy["name"];
  reason: string;
  /** Whether the rounds met the policy's threshold (false: stopped by a limit, or gave up). */
  converged: boolean;
  rounds: RoundRecord[];
  setupTimeMs: number;
  totalTimeMs: number;
  /** The guest paused (0 if it never paused: an aborted pre-copy). */
  downtimeMs: number;
  /** What the pause would have cost after the last round, at the stop rate. */
  expectedDowntimeMs: number;
  downtime: {
    memoryMs: number;
    stateMs: number;
    pauseResumeMs: number;
    redirectMs: number;
    redirect: SwitchoverCosts["redirect"];
  };
  /** When the guest began running on the destination, ms after the start; null if it never did. */
  switchedAtMs: number | null;
  ram: {
    totalBytes: number;
    transferredBytes: number;
    /** Bytes not on the destination when the migration ended. */
    remainingBytes: number;
    pageBytes: number;
    dirtySyncCount: number;
    dirtyPagesRate: number;
    pagesPerSecond: number;
    mbps: number;
    postcopyRequests: number;
  };
  cpuThrottlePct: number;
  postcopy: PostcopyRecord | null;
}

export function runMigration(s: MigrationSetup): MigrationReport {
  if (!(s.linkBps > 0)) throw new RangeError("linkBps must be positive");
  if (!Number.isInteger(s.vcpus) || s.vcpus < 1) throw new RangeError("vcpus must be a positive integer");
  const writer = new GuestWriter(s.memoryBytes, s.guest, s.seed);
  const pages = writer.memoryPages;
  const log = new DirtyLog(pages);
  const setupMs = s.setupMs ?? SETUP_MS;
  const policy = s.policy;
  const rounds: RoundRecord[] = [];
  const report = (
    partial: Omit<MigrationReport, "policy" | "rounds" | "setupTimeMs" | "ram" | "cpuThrottlePct"> & {
      transferredPages: number;
      remainingPages: number;
      postcopyRequests: number;
    },
  ): MigrationReport => {
    const last = rounds.at(-1);
    const activeMs = partial.totalTimeMs - setupMs;
    const { transferredPages, remainingPages, postcopyRequests, ...rest } = partial;
    return {
      ...rest,
      policy: policy.name,
      rounds,
      setupTimeMs: setupMs,
      ram: {
        totalBytes: pages * PAGE_BYTES,
        transferredBytes: transferredPages * PAGE_BYTES,
        remainingBytes: remainingPages * PAGE_BYTES,
        pageBytes: PAGE_BYTES,
        dirtySyncCount: rounds.length,
        dirtyPagesRate: last ? last.dirtyPagesRate : 0,
        pagesPerSecond: last && last.durationMs > 0 ? (last.pagesSent * 1000) / last.durationMs : 0,
        mbps: activeMs > 0 ? (transferredPages * PAGE_BYTES * 8) / (activeMs / 1000) / 1e6 : 0,
        postcopyRequests,
      },
      cpuThrottlePct: Math.round(policy.throttle() * 100),
    };
  };
  const fails = (from: number, to: number, at: number | null | undefined) =>
    at !== null && at !== undefined && at >= from && at < to;
  const stateBytes = s.vcpus * s.switchover.vcpuStateBytes + s.switchover.deviceStateBytes;
  const stateMs = (stateBytes * 8 * 1000) / s.linkBps;
  const noDowntime = {
    memoryMs: 0,
    stateMs: 0,
    pauseResumeMs: 0,
    redirectMs: 0,
    redirect: s.switchover.redirect,
  };

  let t = setupMs;
  let sent = 0;
  let decision: Decision = { kind: "postcopy", reason: "post-copy requested: switch first" };
  if (s.mode === "precopy") {
    log.markAll();
    let previous: RoundView | null = null;
    for (let round = 0; ; round++) {
      const rate = Math.min(policy.roundRate(round, previous), s.linkBps);
      const throttle = policy.throttle();
      const toSend = log.fetchAndClear();
      const durationMs = (toSend * PAGE_BYTES * 8 * 1000) / rate;
      writer.dirty(log, durationMs / 1000, throttle);
      const sourceFails = fails(t, t + durationMs, s.sourceFailsAtMs);
      const destinationFails = fails(t, t + durationMs, s.destinationFailsAtMs);
      if (sourceFails || destinationFails) {
        const at = (sourceFails ? s.sourceFailsAtMs : s.destinationFailsAtMs) as number;
        return report({
          outcome: "aborted",
          mode: "precopy",
          reason: sourceFails
            ? "the source host failed during pre-copy: the guest failed with it"
            : "the destination host failed during pre-copy: the guest stays on the source",
          converged: false,
          totalTimeMs: at,
          downtimeMs: 0,
          expectedDowntimeMs: 0,
          downtime: noDowntime,
          switchedAtMs: null,
          postcopy: null,
          transferredPages: sent,
          remainingPages: pages,
          postcopyRequests: 0,
        });
      }
      sent += toSend;
      const view: RoundView = {
        round,
        pagesSent: toSend,
        durationMs,
        rateBps: rate,
        dirtyPages: log.count,
        totalPagesSent: sent,
        memoryPages: pages,
        pageBytes: PAGE_BYTES,
      };
      rounds.push({
        round,
        startMs: t,
        durationMs,
        pagesSent: toSend,
        bytesSent: toSend * PAGE_BYTES,
        rateMbps: rate / 1e6,
        dirtyPages: log.count,
        dirtyPagesRate: durationMs > 0 ? (log.count * 1000) / durationMs : 0,
        throttlePct: Math.round(throttle * 100),
      });
      t += durationMs;
      previous = view;
      decision = policy.afterRound(view);
      if (decision.kind !== "continue") break;
    }
  }

  const stopRate = Math.min(policy.stopRate(), s.linkBps);
  const expectedDowntimeMs =
    (log.count * PAGE_BYTES * 8 * 1000) / stopRate +
    stateMs +
    s.switchover.pauseResumeMs +
    s.switchover.redirectMs;
  if (decision.kind === "abort") {
    return report({
      outcome: "aborted",
      mode: "precopy",
      reason: decision.reason,
      converged: false,
      totalTimeMs: t,
      downtimeMs: 0,
      expectedDowntimeMs,
      downtime: noDowntime,
      switchedAtMs: null,
      postcopy: null,
      transferredPages: sent,
      remainingPages: pages,
      postcopyRequests: 0,
    });
  }

  if (decision.kind === "stop-and-copy") {
    const remaining = log.fetchAndClear();
    const memoryMs = (remaining * PAGE_BYTES * 8 * 1000) / stopRate;
    const downtime = {
      memoryMs,
      stateMs,
      pauseResumeMs: s.switchover.pauseResumeMs,
      redirectMs: s.switchover.redirectMs,
      redirect: s.switchover.redirect,
    };
    const downtimeMs = memoryMs + stateMs + s.switchover.pauseResumeMs + s.switchover.redirectMs;
    // Until the destination resumes the guest, either host failing leaves it where it was.
    if (fails(t, t + downtimeMs, s.sourceFailsAtMs) || fails(t, t + downtimeMs, s.destinationFailsAtMs)) {
      const source = fails(t, t + downtimeMs, s.sourceFailsAtMs);
      return report({
        outcome: "aborted",
        mode: "precopy",
        reason: source
          ? "the source host failed during stop-and-copy: the guest failed with it"
          : "the destination host failed during stop-and-copy: the guest resumes on the source",
        converged: decision.converged,
        totalTimeMs: (source ? s.sourceFailsAtMs : s.destinationFailsAtMs) as number,
        downtimeMs: 0,
        expectedDowntimeMs,
        downtime: noDowntime,
        switchedAtMs: null,
        postcopy: null,
        transferredPages: sent,
        remainingPages: pages,
        postcopyRequests: 0,
      });
    }
    return report({
      outcome: "completed",
      mode: "precopy",
      reason: decision.reason,
      converged: decision.converged,
      totalTimeMs: t + downtimeMs,
      downtimeMs,
      expectedDowntimeMs,
      downtime,
      switchedAtMs: t + downtimeMs,
      postcopy: null,
      transferredPages: sent + remaining,
      remainingPages: 0,
      postcopyRequests: 0,
    });
  }

  // Post-copy: what is still dirty (all of memory, for a pure post-copy) is missing on the destination.
  if (s.mode === "postcopy") log.markAll();
  const downtime = {
    memoryMs: 0,
    stateMs,
    pauseResumeMs: s.switchover.pauseResumeMs,
    redirectMs: s.switchover.redirectMs,
    redirect: s.switchover.redirect,
  };
  const downtimeMs = stateMs + s.switchover.pauseResumeMs + s.switchover.redirectMs;
  t += downtimeMs;
  const switchedAtMs = t;
  const pc = postcopy(writer, log, s, t);
  const lost = pc.lostAtMs !== null;
  return report({
    outcome: lost ? "lost" : "completed",
    mode: "postcopy",
    reason: lost
      ? `the ${pc.lostBy} host failed before the last page arrived: the guest is lost`
      : decision.reason,
    converged: false,
    totalTimeMs: lost ? (pc.lostAtMs as number) : t + pc.record.durationMs,
    downtimeMs,
    expectedDowntimeMs,
    downtime,
    switchedAtMs,
    postcopy: pc.record,
    transferredPages: sent + pc.record.pagesPushed + pc.record.pagesRequested,
    remainingPages: log.count,
    postcopyRequests: pc.record.pagesRequested,
  });
}

/**
 * The guest runs on the destination while the source pushes the missing pages in order and serves
 * the ones the guest faults on first; each fault stalls a vCPU for a round trip and a page's time on
 * the wire. Demand pages share the wire with the push.
 */
function postcopy(
  writer: GuestWriter,
  missing: DirtyLog,
  s: MigrationSetup,
  startMs: number,
): { record: PostcopyRecord; lostAtMs: number | null; lostBy: "source" | "destination" } {
  const pageMs = (PAGE_BYTES * 8 * 1000) / s.linkBps;
  const faultMs = (s.rttMs ?? LAN_RTT_MS) + pageMs;
  const pagesPerStep = POSTCOPY_STEP_MS / pageMs;
  let t = startMs;
  let pushed = 0;
  let requested = 0;
  let stallMs = 0;
  let cursor = 0;
  let credit = 0;
  let stepFaults = 0;
  const onTouch = (pfn: number) => {
    if (missing.clear(pfn)) stepFaults++;
  };
  while (missing.count > 0) {
    for (const [at, by] of [
      [s.sourceFailsAtMs, "source"],
      [s.destinationFailsAtMs, "destination"],
    ] as const) {
      if (at !== null && at !== undefined && at >= t && at < t + POSTCOPY_STEP_MS) {
        const durationMs = at - startMs;
        return {
          record: {
            startMs,
            durationMs,
            pagesPushed: pushed,
            pagesRequested: requested,
            stallMs,
            slowdown: slowdown(stallMs, durationMs, s.vcpus),
          },
          lostAtMs: at,
          lostBy: by,
        };
      }
    }
    stepFaults = 0;
    writer.run(POSTCOPY_STEP_MS / 1000, 0, onTouch);
    requested += stepFaults;
    stallMs += stepFaults * faultMs;
    credit += pagesPerStep - stepFaults;
    while (credit >= 1 && missing.count > 0) {
      const pfn = missing.nextMarked(cursor);
      if (pfn < 0) {
        cursor = 0;
        continue;
      }
      missing.clear(pfn);
      cursor = pfn + 1;
      pushed++;
      credit--;
    }
    t += POSTCOPY_STEP_MS;
  }
  const durationMs = t - startMs;
  return {
    record: {
      startMs,
      durationMs,
      pagesPushed: pushed,
      pagesRequested: requested,
      stallMs,
      slowdown: slowdown(stallMs, durationMs, s.vcpus),
    },
    lostAtMs: null,
    lostBy: "source",
  };
}

function slowdown(stallMs: number, durationMs: number, vcpus: number): number {
  return durationMs > 0 ? Math.min(1, stallMs / (durationMs * vcpus)) : 0;
}
