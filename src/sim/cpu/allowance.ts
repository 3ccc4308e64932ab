// The I/O allowances EC2 meters per instance on its cards: network bandwidth in each direction and the
// packet rate, EBS IOPS and throughput, each with the credit bucket of an "up to" type. Sources: EC2 user
// guide, "Amazon EC2 instance network bandwidth" and "Amazon EBS-optimized instances"; the counters are
// named after ENA's (Linux drivers/net/ethernet/amazon/ena/ena_admin_defs.h, struct ena_admin_eni_stats).
import type { InstanceCaps } from "./devices";

/**
 * A rate the card lets through: `baseline` for ever, up to `peak` while credits last. Credits are earned at
 * the baseline less what is used, spent at what is used beyond it, and held up to `capacity`; a type
 * without an "up to" figure has no bucket (peak = baseline, capacity 0).
 */
export interface CreditBucket {
  baseline: number;
  peak: number;
  capacity: number;
}

/**
 * Network I/O credits: a bucket holding one hour of the baseline. AWS publishes no bucket size, only that
 * the "up to" types (4xlarge and smaller) "can use burst bandwidth for a limited time, typically from 5 to
 * 60 minutes, depending on the instance size" and start with a full bucket. At full burst a bucket of T
 * seconds of baseline lasts T × baseline / (burst − baseline): T = 1 h gives the 4xlarge (5 of 10 Gbps)
 * its 60 minutes, and the large (0.75 of 10) then comes out at 4.9 minutes, the other end of the range.
 */
export const NETWORK_CREDIT_SECONDS = 3600;

/**
 * EBS burst: the smaller EBS-optimized sizes "can support maximum performance for 30 minutes at least once
 * every 24 hours" (EBS-optimized instances page), so the bucket holds 30 minutes of the excess over the
 * baseline. Refilled at the baseline it is full again within hours (a c5.large's bytes in 3.2 h), inside
 * the 24 the page promises.
 */
export const EBS_BURST_SECONDS = 1800;

/** Per-second rate let through over `seconds` of steady demand `offered`, from a balance of `credits`. */
export function allowedRate(b: CreditBucket, credits: number, offered: number, seconds: number): number {
  const want = Math.min(offered, b.peak);
  if (want <= b.baseline) return want;
  return b.baseline + Math.min(want - b.baseline, credits / seconds);
}

/** The balance after `seconds` of a per-second rate `used`. */
export function settle(b: CreditBucket, credits: number, used: number, seconds: number): number {
  return Math.min(b.capacity, Math.max(0, credits + (b.baseline - used) * seconds));
}

/** A bucket's balance as CloudWatch shows EBS's (EBSIOBalance%, EBSByteBalance%); null without one. */
export function balancePct(b: CreditBucket, credits: number): number | null {
  return b.capacity > 0 ? (100 * credits) / b.capacity : null;
}

function bucket(baseline: number, peak: number, seconds: (baseline: number, peak: number) => number) {
  const top = Math.max(baseline, peak);
  return { baseline, peak: top, capacity: top > baseline ? seconds(baseline, top) : 0 };
}

/** What an instance type lets through, in bytes and operations per second. */
export interface IoAllowances {
  /** Inbound and outbound each have the type's bandwidth, "simultaneously", and buckets of their own. */
  netIn: CreditBucket;
  netOut: CreditBucket;
  /** Packets per second in both directions together, where the type has a limit of its own. */
  pps: number;
  ebsIops: CreditBucket;
  ebsBytes: CreditBucket;
}

export function allowancesFor(caps: InstanceCaps): IoAllowances {
  const netBase = (caps.networkGbps * 1e9) / 8;
  const netPeak = ((caps.networkBurstGbps ?? caps.networkGbps) * 1e9) / 8;
  const net = () => bucket(netBase, netPeak, (base) => base * NETWORK_CREDIT_SECONDS);
  const excess = (base: number, peak: number) => (peak - base) * EBS_BURST_SECONDS;
  return {
    netIn: net(),
    netOut: net(),
    pps: caps.networkPps ?? Number.POSITIVE_INFINITY,
    ebsIops: bucket(caps.ebsIops, caps.ebsBurstIops ?? caps.ebsIops, excess),
    ebsBytes: bucket((caps.ebsMbps * 1e6) / 8, ((caps.ebsBurstMbps ?? caps.ebsMbps) * 1e6) / 8, excess),
  };
}

/** Credit balances, in the buckets' units (bytes, I/Os). */
export interface Credits {
  netIn: number;
  netOut: number;
  ebsIos: number;
  ebsBytes: number;
}

/** "An instance receives the maximum number of network I/O credits at launch"; EBS's bucket is taken as full too. */
export function fullCredits(a: IoAllowances): Credits {
  return {
    netIn: a.netIn.capacity,
    netOut: a.netOut.capacity,
    ebsIos: a.ebsIops.capacity,
    ebsBytes: a.ebsBytes.capacity,
  };
}

/** One second's packets through the network allowances (over a stretch, the mean second's). */
export interface NetworkMeter {
  packetsOut: number;
  packetsIn: number;
  /** Packets held back (ENA: "shaped", queued or dropped) by each allowance. */
  bwOutAllowanceExceeded: number;
  bwInAllowanceExceeded: number;
  ppsAllowanceExceeded: number;
}

/** Meters offered packets against bandwidth in each direction, then the packet rate of both together. */
export function meterNetwork(
  out: NetworkMeter,
  a: IoAllowances,
  credits: Credits,
  offeredOut: number,
  offeredIn: number,
  packetBytes: number,
  seconds: number,
): void {
  let tx = Math.min(
    offeredOut,
    Math.floor(allowedRate(a.netOut, credits.netOut, offeredOut * packetBytes, seconds) / packetBytes),
  );
  let rx = Math.min(
    offeredIn,
    Math.floor(allowedRate(a.netIn, credits.netIn, offeredIn * packetBytes, seconds) / packetBytes),
  );
  out.bwOutAllowanceExceeded = offeredOut - tx;
  out.bwInAllowanceExceeded = offeredIn - rx;
  let pps = 0;
  const ppsCap = Math.floor(a.pps);
  if (tx + rx > ppsCap) {
    pps = tx + rx - ppsCap;
    // The packet rate is shared by both directions: each loses its share.
    const cutIn = Math.round((pps * rx) / (tx + rx));
    rx -= cutIn;
    tx -= pps - cutIn;
  }
  out.ppsAllowanceExceeded = pps;
  out.packetsOut = tx;
  out.packetsIn = rx;
}

/** One second's EBS I/Os through the instance's allowances and the volume's limits. */
export interface EbsMeter {
  ios: number;
  /** I/Os held back, each counted against the tightest limit (CloudWatch's *ExceededCheck metrics). */
  instanceIopsExceeded: number;
  instanceThroughputExceeded: number;
  volumeIopsExceeded: number;
  volumeThroughputExceeded: number;
}

/** A volume's own limits as the platform delivers them (ebs-volume.ts); Infinity where it sets none. */
export interface VolumeLimits {
  iops: number;
  bytesPerSec: number;
}

export const NO_VOLUME_LIMITS: VolumeLimits = {
  iops: Number.POSITIVE_INFINITY,
  bytesPerSec: Number.POSITIVE_INFINITY,
};

export function meterEbs(
  out: EbsMeter,
  a: IoAllowances,
  volume: VolumeLimits,
  credits: Credits,
  offered: number,
  ioBytes: number,
  seconds: number,
): void {
  const byIops = Math.floor(allowedRate(a.ebsIops, credits.ebsIos, offered, seconds));
  const byBytes = Math.floor(allowedRate(a.ebsBytes, credits.ebsBytes, offered * ioBytes, seconds) / ioBytes);
  const byVolumeIops = Math.floor(volume.iops);
  const byVolumeBytes = Math.floor(volume.bytesPerSec / ioBytes);
  const ios = Math.min(offered, byIops, byBytes, byVolumeIops, byVolumeBytes);
  const held = offered - ios;
  out.ios = ios;
  out.instanceIopsExceeded = 0;
  out.instanceThroughputExceeded = 0;
  out.volumeIopsExceeded = 0;
  out.volumeThroughputExceeded = 0;
  if (held === 0) return;
  if (ios === byIops) out.instanceIopsExceeded = held;
  else if (ios === byBytes) out.instanceThroughputExceeded = held;
  else if (ios === byVolumeIops) out.volumeIopsExceeded = held;
  else out.volumeThroughputExceeded = held;
}
