// A host's block I/O: each EBS I/O priced on the instance's storage path and passed through the rate
// gates that hold it to its type's EBS allowance, its volume's limits and its back end's one thread
// (sim/storage/io-path.ts), the gates kept in the host's store; and the instance store, local disk
// blocks that live with the host and go when the instance leaves it.
import { findInstanceType } from "../sim/catalog";
import { hostOptimizations } from "../sim/host";
import type { HostRecord, InstanceRecord } from "../sim/records";
import { BLOCK_BYTES, crc32cHex } from "../sim/storage/checksum";
import { bucketShare, type Gate, gateOpensAt, type IoCost, ioCost, passGates } from "../sim/storage/io-path";
import type { VolumeRateLimits } from "../sim/storage/volume-types";
import type { Sql } from "./sql";

/** The gates an EBS I/O passes, by what each holds it to. */
export const GATE_NAMES = [
  "instance-iops",
  "instance-bytes",
  "volume-iops",
  "volume-bytes",
  "volume-burst",
  "backend",
] as const;
export type GateName = (typeof GATE_NAMES)[number];

/** A volume's limits as the I/O path needs them (sim/storage/volume-types.ts). */
export type VolumeRates = VolumeRateLimits;

export interface BlockIoTiming {
  cost: IoCost;
  /** Simulated ms: when the I/O was asked for, when the gates let it start, when it completes. */
  at: number;
  start: number;
  completesAt: number;
  /** Which gate held it longest, if any held it at all. */
  heldBy: GateName | null;
}

/** A run of I/Os of one size, all asked for at one instant (a queue as deep as the run). */
export interface BlockIoLoad {
  cost: IoCost;
  ios: number;
  /** Operations as the IOPS limits count them: an I/O past the volume's largest counts as several. */
  operations: number;
  bytes: number;
  at: number;
  /** When the first I/O started, and when the gates let the last one through (its service time follows). */
  firstStart: number;
  lastDone: number;
  /** How many of the run's I/Os each gate held (the one that held each longest). */
  heldBy: Record<GateName, number>;
  /** The limits the run met, per second. */
  limits: {
    instanceIops: number;
    instanceBytesPerSec: number;
    volumeIops: number;
    volumeBytesPerSec: number;
    volumeBurstBytesPerSec: number | null;
    backendIops: number;
  };
  /** st1: what is left of the volume's burst bucket after the run, in percent (CloudWatch's BurstBalance). */
  burstBalancePct: number | null;
}

/** An attachment's I/O counters since it came to this host (CloudWatch's EBS metrics, counted). */
export interface BlockIoCounters {
  ios: number;
  operations: number;
  bytes: number;
  heldBy: Record<GateName, number>;
}

const noneHeld = (): Record<GateName, number> =>
  Object.fromEntries(GATE_NAMES.map((n) => [n, 0])) as Record<GateName, number>;

/** Instances on a type without local disks have no instance store. */
export function instanceStoreGiB(i: InstanceRecord): number {
  return i.nvmeGB;
}

interface Gates {
  cost: IoCost;
  names: GateName[];
  keys: string[];
  gates: Gate[];
  /** The units each gate counts for one I/O. */
  units: number[];
  operations: number;
  scope: string;
}

export class BlockIo {
  constructor(private readonly sql: Sql) {}

  /** The gates an I/O of `bytes` for `instance` on `host` passes, as they stand. */
  private gates(
    host: HostRecord,
    instance: InstanceRecord,
    volumeId: string,
    v: VolumeRates,
    bytes: number,
  ): Gates {
    const type = findInstanceType(instance.instanceType);
    if (!type) throw new Error(`unknown instance type ${instance.instanceType}`);
    const mode = instance.virtualizationType === "paravirtual" ? "pv" : "hvm";
    const cost = ioCost(host.hypervisor, mode, hostOptimizations(host));
    const id = instance.instanceId;
    const scope = `${id}:${volumeId}`;
    // An I/O larger than the volume counts as one is that many operations against its IOPS.
    const operations = Math.max(1, Math.ceil(bytes / v.maxIoBytes));
    // The instance's allowance is shared by all its volumes; a volume's limits and its back-end thread
    // (one blkback thread per virtual disk) by that attachment's I/Os. st1's baseline gate carries its
    // burst bucket as tolerance, and its burst gate the peak rate the bucket is spent at.
    const named: [GateName, string, number, number, number][] = [
      ["instance-iops", id, type.ebsBaselineIops, operations, 0],
      ["instance-bytes", id, (type.ebsBaselineMbps * 1e6) / 8, bytes, 0],
      ["volume-iops", scope, v.iops, operations, 0],
      [
        "volume-bytes",
        scope,
        v.bytesPerSec,
        bytes,
        v.burst ? (1000 * v.burst.bucketBytes) / v.bytesPerSec : 0,
      ],
      ["volume-burst", scope, v.burst ? v.burst.bytesPerSec : Number.POSITIVE_INFINITY, bytes, 0],
      ["backend", scope, cost.backendIops, 1, 0],
    ];
    const keys = named.map(([name, sc]) => `${name}:${sc}`);
    const gates: Gate[] = named.map(([, , rate, , tol], i) => ({
      rate,
      tat: this.tat(keys[i]),
      ...(tol > 0 ? { toleranceMs: tol } : {}),
    }));
    return {
      cost,
      names: named.map((n) => n[0]),
      keys,
      gates,
      units: named.map((n) => n[3]),
      operations,
      scope,
    };
  }

  /** Passes one I/O through the gates at `now`: which gate held it longest, if any. */
  private passOne(g: Gates, now: number): { start: number; done: number; heldBy: GateName | null } {
    let heldBy: GateName | null = null;
    let longest = now;
    g.gates.forEach((gate, i) => {
      const opens = gateOpensAt(gate);
      if (opens > longest) {
        longest = opens;
        heldBy = g.names[i];
      }
    });
    const { start, done } = passGates(g.gates, g.units, now);
    return { start, done, heldBy };
  }

  private save(g: Gates, ios: number, bytes: number, held: Record<GateName, number>): void {
    g.keys.forEach((key, i) => {
      this.sql`INSERT OR REPLACE INTO io_gates (key, tat) VALUES (${key}, ${g.gates[i].tat})`;
    });
    const add = (name: string, n: number) => {
      if (n === 0) return;
      this.sql`INSERT INTO io_counters (scope, name, value) VALUES (${g.scope}, ${name}, ${n})
        ON CONFLICT (scope, name) DO UPDATE SET value = value + excluded.value`;
    };
    add("ios", ios);
    add("operations", ios * g.operations);
    add("bytes", ios * bytes);
    for (const name of GATE_NAMES) add(`held:${name}`, held[name]);
  }

  /** Prices one I/O of `bytes` for `instance` on `host` and passes it through its gates at `now`. */
  pass(
    host: HostRecord,
    instance: InstanceRecord,
    volumeId: string,
    v: VolumeRates,
    bytes: number,
    now: number,
  ): BlockIoTiming {
    const g = this.gates(host, instance, volumeId, v, bytes);
    const { start, done, heldBy } = this.passOne(g, now);
    const held = noneHeld();
    if (heldBy) held[heldBy]++;
    this.save(g, 1, bytes, held);
    return { cost: g.cost, at: now, start, completesAt: done + v.latencyMs, heldBy };
  }

  /** Passes `count` I/Os of `bytes` each, all asked for at `now`, through the attachment's gates. */
  load(
    host: HostRecord,
    instance: InstanceRecord,
    volumeId: string,
    v: VolumeRates,
    bytes: number,
    count: number,
    now: number,
  ): BlockIoLoad {
    const g = this.gates(host, instance, volumeId, v, bytes);
    const held = noneHeld();
    let firstStart = Number.POSITIVE_INFINITY;
    let lastDone = now;
    for (let i = 0; i < count; i++) {
      const one = this.passOne(g, now);
      if (one.heldBy) held[one.heldBy]++;
      firstStart = Math.min(firstStart, one.start);
      lastDone = Math.max(lastDone, one.done);
    }
    this.save(g, count, bytes, held);
    const rate = (name: GateName) => g.gates[g.names.indexOf(name)].rate;
    const baseline = g.gates[g.names.indexOf("volume-bytes")];
    return {
      cost: g.cost,
      ios: count,
      operations: count * g.operations,
      bytes: count * bytes,
      at: now,
      firstStart,
      lastDone,
      heldBy: held,
      limits: {
        instanceIops: rate("instance-iops"),
        instanceBytesPerSec: rate("instance-bytes"),
        volumeIops: rate("volume-iops"),
        volumeBytesPerSec: rate("volume-bytes"),
        volumeBurstBytesPerSec: v.burst ? v.burst.bytesPerSec : null,
        backendIops: rate("backend"),
      },
      // As the run leaves it: credits earned while it ran included.
      burstBalancePct: v.burst ? 100 * bucketShare(baseline, Math.max(now, lastDone)) : null,
    };
  }

  /** The attachment's counters: I/Os, operations, bytes, and how many I/Os each gate held. */
  counters(instanceId: string, volumeId: string): BlockIoCounters {
    const out: BlockIoCounters = { ios: 0, operations: 0, bytes: 0, heldBy: noneHeld() };
    for (const r of this.sql<{ name: string; value: number }>`
      SELECT name, value FROM io_counters WHERE scope = ${`${instanceId}:${volumeId}`}`) {
      if (r.name === "ios" || r.name === "operations" || r.name === "bytes") out[r.name] = r.value;
      else if (r.name.startsWith("held:")) {
        const gate = r.name.slice(5) as GateName;
        if (gate in out.heldBy) out.heldBy[gate] = r.value;
      }
    }
    return out;
  }

  /** Forgets an instance's gates (it left the host). */
  dropInstance(instanceId: string): void {
    this.sql`DELETE FROM io_gates WHERE key LIKE ${`%:${instanceId}%`}`;
    this.sql`DELETE FROM io_counters WHERE scope LIKE ${`${instanceId}:%`}`;
    this.sql`DELETE FROM instance_store WHERE instance_id = ${instanceId}`;
  }

  writeLocal(instanceId: string, n: number, data: ArrayBuffer): string {
    const checksum = crc32cHex(new Uint8Array(data));
    this
      .sql`INSERT OR REPLACE INTO instance_store (instance_id, n, checksum, data) VALUES (${instanceId}, ${n}, ${checksum}, ${data})`;
    return checksum;
  }

  /** A block of the instance store; never written, it reads as zeros. */
  readLocal(instanceId: string, n: number): { data: ArrayBuffer; checksum: string; written: boolean } {
    const row = this.sql<{ data: ArrayBuffer; checksum: string }>`
      SELECT data, checksum FROM instance_store WHERE instance_id = ${instanceId} AND n = ${n}`[0];
    if (row) return { ...row, written: true };
    const zeros = new ArrayBuffer(BLOCK_BYTES);
    return { data: zeros, checksum: crc32cHex(new Uint8Array(zeros)), written: false };
  }

  localBlocks(instanceId: string): number {
    return this.sql<{
      n: number;
    }>`SELECT count(*) AS n FROM instance_store WHERE instance_id = ${instanceId}`[0].n;
  }

  private tat(key: string): number {
    return (
      this.sql<{ tat: number }>`SELECT tat FROM io_gates WHERE key = ${key}`[0]?.tat ??
      Number.NEGATIVE_INFINITY
    );
  }
}
