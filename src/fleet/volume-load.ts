// A sequential load on a volume, as a benchmark such as fio drives it: many I/Os of one size asked for at
// once through the attached instance's path. The host passes each through the same gates as a block read
// or write (host/block-io.ts), so the run is held to the lower of the volume's limits (IOPS, throughput,
// st1's burst) and the instance type's EBS allowance, and leaves the gates as it found them drained. The
// run measures the path; it moves no bytes to the volume's copies. The attachment's counters (I/Os each
// gate held, as CloudWatch's *ExceededCheck metrics count them) include the run and every block I/O.
import type { Fleet } from "./context";
import { invalidParameter } from "./errors";
import { LOAD_IO_MAX_KIB, LOAD_IOS_MAX } from "./limits";
import { ioTarget } from "./volume-blocks";
import { requireVolume } from "./volume-records";

const MIB = 1024 * 1024;

export interface VolumeLoadInput {
  instanceId?: string;
  ioSizeKiB: number;
  count: number;
}

function checkLoad(input: VolumeLoadInput): void {
  const kib = input.ioSizeKiB;
  if (!Number.isInteger(kib) || kib < 4 || kib > LOAD_IO_MAX_KIB || kib % 4 !== 0) {
    throw invalidParameter(
      "body.ioSizeKiB",
      `must be a multiple of 4 from 4 to ${LOAD_IO_MAX_KIB} (whole blocks)`,
    );
  }
  if (!Number.isInteger(input.count) || input.count < 1 || input.count > LOAD_IOS_MAX) {
    throw invalidParameter("body.count", `must be a whole number of I/Os from 1 to ${LOAD_IOS_MAX}`);
  }
}

const perSecond = (n: number, ms: number) => (ms > 0 ? (1000 * n) / ms : null);

export async function runVolumeLoad(fleet: Fleet, volumeId: string, input: VolumeLoadInput) {
  checkLoad(input);
  const v = await requireVolume(fleet, volumeId);
  const t = await ioTarget(fleet, v, input.instanceId);
  const bytes = input.ioSizeKiB * 1024;
  const res = await fleet
    .host(t.hostId)
    .blockIoLoad(t.inst.id, volumeId, t.rates, bytes, input.count, await fleet.clock());
  const r = res.result;
  if (r.status === "not-running") throw t.notRunning(r.state);
  if (r.status === "not-here") throw t.notRunning("changing hosts");
  const { load, counters } = r.value;
  // The gates let the run through between when it was asked for and when its last I/O left them.
  const spanMs = load.lastDone - load.at;
  const mibps = perSecond(load.bytes / MIB, spanMs);
  const held = Object.entries(load.heldBy).sort((a, b) => b[1] - a[1])[0];
  return {
    volumeId,
    instanceId: t.inst.id,
    device: t.att.device,
    ioSizeKiB: input.ioSizeKiB,
    ios: load.ios,
    operations: load.operations,
    bytes: load.bytes,
    requestedAt: load.at,
    firstStartedAt: load.firstStart,
    lastCompletedAt: load.lastDone + t.rates.latencyMs,
    spanMs,
    iops: perSecond(load.operations, spanMs),
    throughputMiBps: mibps,
    limits: {
      volumeIops: t.rates.iops,
      volumeMiBps: t.rates.bytesPerSec / MIB,
      volumeBurstMiBps: t.rates.burst ? t.rates.burst.bytesPerSec / MIB : null,
      instanceIops: load.limits.instanceIops,
      instanceMiBps: load.limits.instanceBytesPerSec / MIB,
      backendIops: Number.isFinite(load.limits.backendIops) ? load.limits.backendIops : null,
    },
    heldBy: load.heldBy,
    boundBy: held && held[1] > 0 ? (held[0] as keyof typeof load.heldBy) : null,
    burstBalancePct: load.burstBalancePct,
    counters,
  };
}

/** The attachment's I/O counters: every block I/O and load run since it came to its host. */
export async function volumeIoCounters(fleet: Fleet, volumeId: string, q: { instanceId?: string }) {
  const v = await requireVolume(fleet, volumeId);
  const t = await ioTarget(fleet, v, q.instanceId);
  const res = await fleet.host(t.hostId).blockIoCounters(t.inst.id, volumeId, await fleet.clock());
  const r = res.result;
  if (r.status === "not-running") throw t.notRunning(r.state);
  if (r.status === "not-here") throw t.notRunning("changing hosts");
  return { volumeId, instanceId: t.inst.id, device: t.att.device, ...r.value };
}
