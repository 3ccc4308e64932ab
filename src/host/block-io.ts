// A host's block I/O: each EBS I/O priced on the instance's storage path and passed through the rate
// gates that hold it to its type's EBS allowance, its volume's limits and its back end's one thread
// (sim/storage/io-path.ts), the gates kept in the host's store; and the instance store, local disk
// blocks that live with the host and go when the instance leaves it.
import { findInstanceType } from "../sim/catalog";
import { hostOptimizations } from "../sim/host";
import type { HostRecord, InstanceRecord } from "../sim/records";
import { BLOCK_BYTES, crc32cHex } from "../sim/storage/checksum";
import { type Gate, type IoCost, ioCost, passGates } from "../sim/storage/io-path";
import type { Sql } from "./sql";

/** The gates an EBS I/O passes, by what each holds it to. */
export const GATE_NAMES = [
  "instance-iops",
  "instance-bytes",
  "volume-iops",
  "volume-bytes",
  "backend",
] as const;
export type GateName = (typeof GATE_NAMES)[number];

/** A volume's limits as the I/O path needs them. */
export interface VolumeRates {
  iops: number;
  bytesPerSec: number;
  latencyMs: number;
}

export interface BlockIoTiming {
  cost: IoCost;
  /** Simulated ms: when the I/O was asked for, when the gates let it start, when it completes. */
  at: number;
  start: number;
  completesAt: number;
  /** Which gate held it longest, if any held it at all. */
  heldBy: GateName | null;
}

/** Instances on a type without local disks have no instance store. */
export function instanceStoreGiB(i: InstanceRecord): number {
  return i.nvmeGB;
}

export class BlockIo {
  constructor(private readonly sql: Sql) {}

  /** Prices one I/O of `bytes` for `instance` on `host` and passes it through its gates at `now`. */
  pass(
    host: HostRecord,
    instance: InstanceRecord,
    volumeId: string,
    v: VolumeRates,
    bytes: number,
    now: number,
  ): BlockIoTiming {
    const type = findInstanceType(instance.instanceType);
    if (!type) throw new Error(`unknown instance type ${instance.instanceType}`);
    const mode = instance.virtualizationType === "paravirtual" ? "pv" : "hvm";
    const cost = ioCost(host.hypervisor, mode, hostOptimizations(host));
    const id = instance.instanceId;
    // The instance's allowance is shared by all its volumes; a volume's limits and its back-end thread
    // (one blkback thread per virtual disk) by that attachment's I/Os.
    const named: [GateName, string, number, number][] = [
      ["instance-iops", id, type.ebsBaselineIops, 1],
      ["instance-bytes", id, (type.ebsBaselineMbps * 1e6) / 8, bytes],
      ["volume-iops", `${id}:${volumeId}`, v.iops, 1],
      ["volume-bytes", `${id}:${volumeId}`, v.bytesPerSec, bytes],
      ["backend", `${id}:${volumeId}`, cost.backendIops, 1],
    ];
    const keys = named.map(([name, scope]) => `${name}:${scope}`);
    const gates: Gate[] = named.map(([, , rate], i) => ({ rate, tat: this.tat(keys[i]) }));
    const before = gates.map((g) => g.tat);
    const { start, done } = passGates(
      gates,
      named.map((n) => n[3]),
      now,
    );
    let heldBy: GateName | null = null;
    let longest = now;
    named.forEach(([name], i) => {
      if (before[i] > longest) {
        longest = before[i];
        heldBy = name;
      }
      this.sql`INSERT OR REPLACE INTO io_gates (key, tat) VALUES (${keys[i]}, ${gates[i].tat})`;
    });
    return { cost, at: now, start, completesAt: done + v.latencyMs, heldBy };
  }

  /** Forgets an instance's gates (it left the host). */
  dropInstance(instanceId: string): void {
    this.sql`DELETE FROM io_gates WHERE key LIKE ${`%:${instanceId}%`}`;
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
