// Reading and writing a volume's 4 KiB blocks through the attached instance's I/O path. The host prices
// the I/O and holds it to the instance's and volume's limits (host/block-io.ts); then a write goes to
// every live copy, syncing ones included, and is acknowledged only when each took it; a read comes from
// the first full copy that answers with a block whose checksum holds.
import { eq, sql } from "drizzle-orm";
import { volumes } from "../db/schema";
import type { StoredBlock } from "../host/storage-node";
import { BLOCK_BYTES, crc32cHex } from "../sim/storage/checksum";
import { acknowledged, healthOf, readSources, writeTargets } from "../sim/storage/replicas";
import type { StorageVolumeType } from "../sim/storage/volume-types";
import { volumeRates } from "../sim/storage/volume-types";
import type { Fleet } from "./context";
import { ApiError, instanceNotFound, invalidParameter } from "./errors";
import { requireInstanceRow } from "./instance-queries";
import { restoredBlock } from "./snapshots";
import { liveNodes, nodeStub } from "./storage-node-rows";
import { loadVolume, requireVolume, type VolumeRecord } from "./volume-records";
import { degrade, queueResync } from "./volume-resync";

const BLOCKS_PER_GIB = (1024 * 1024 * 1024) / BLOCK_BYTES;

export function decodeBlock(data: string): Uint8Array {
  let bin: string;
  try {
    bin = atob(data);
  } catch {
    throw invalidParameter("body.data", "must be base64");
  }
  if (bin.length !== BLOCK_BYTES)
    throw invalidParameter("body.data", `must be exactly ${BLOCK_BYTES} bytes (it is ${bin.length})`);
  const out = new Uint8Array(BLOCK_BYTES);
  for (let i = 0; i < BLOCK_BYTES; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function encodeBlock(data: ArrayBuffer): string {
  const bytes = new Uint8Array(data);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x2000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x2000));
  return btoa(bin);
}

function checkBlockNumber(v: VolumeRecord, n: number): void {
  const blocks = v.row.sizeGiB * BLOCKS_PER_GIB;
  if (!Number.isInteger(n) || n < 0 || n >= blocks) {
    throw invalidParameter(
      "path.n",
      `must be a block number from 0 to ${blocks - 1} (${v.row.sizeGiB} GiB of 4 KiB blocks)`,
    );
  }
}

/** The attachment an I/O goes through: the one named, or the only one. */
function attachmentFor(v: VolumeRecord, instanceId: string | undefined) {
  if (v.attachments.length === 0) {
    throw new ApiError(
      409,
      "IncorrectState",
      `The volume '${v.row.id}' is not attached: block I/O goes through an instance`,
      {
        field: "volumeId",
      },
    );
  }
  if (instanceId === undefined) {
    if (v.attachments.length > 1)
      throw invalidParameter("instanceId", "is required: the volume is attached to several instances");
    return v.attachments[0];
  }
  const a = v.attachments.find((x) => x.instanceId === instanceId);
  if (!a) throw invalidParameter("instanceId", `the volume is not attached to '${instanceId}'`);
  return a;
}

/**
 * Where an I/O of the volume goes: the attachment (the one named, or the only one), its running
 * instance's host, and the volume's limits.
 */
export async function ioTarget(fleet: Fleet, v: VolumeRecord, instanceId: string | undefined) {
  const att = attachmentFor(v, instanceId);
  const inst = await requireInstanceRow(fleet, att.instanceId).catch(() => {
    throw instanceNotFound(att.instanceId);
  });
  const notRunning = (state: string) =>
    new ApiError(
      409,
      "IncorrectInstanceState",
      `The instance '${inst.id}' is ${state}: its volumes take I/O only while it runs`,
      {
        instanceId: inst.id,
      },
    );
  if (!inst.hostId || inst.state !== "running") throw notRunning(inst.state);
  const rates = volumeRates({
    type: v.row.volumeType as StorageVolumeType,
    sizeGiB: v.row.sizeGiB,
    iops: v.row.iops,
    throughputMiBps: v.row.throughputMiBps,
    multiAttach: v.row.multiAttach,
  });
  return { att, inst, hostId: inst.hostId, rates, notRunning };
}

/** Passes one I/O through the host of the attached instance; answers its price and timing. */
async function passIo(fleet: Fleet, v: VolumeRecord, instanceId: string | undefined) {
  const { att, inst, hostId, rates, notRunning } = await ioTarget(fleet, v, instanceId);
  const res = await fleet
    .host(hostId)
    .blockIoPass(inst.id, v.row.id, rates, BLOCK_BYTES, await fleet.clock());
  const r = res.result;
  if (r.status === "not-running") throw notRunning(r.state);
  if (r.status === "not-here") throw notRunning("changing hosts");
  const t = r.value;
  return {
    instanceId: inst.id,
    device: att.device,
    path: t.cost.path,
    backend: t.cost.backend,
    guestCycles: t.cost.guestCycles,
    hypervisorCycles: t.cost.hypervisorCycles,
    dom0Cycles: t.cost.dom0Cycles,
    hostCycles: t.cost.hostCycles,
    cardNs: t.cost.cardNs,
    requestedAt: t.at,
    startedAt: t.start,
    completesAt: t.completesAt,
    queuedMs: t.start - t.at,
    heldBy: t.heldBy,
  };
}

/** Writes one block to every live copy; acknowledged only once each of them has it. */
export async function writeBlock(
  fleet: Fleet,
  volumeId: string,
  n: number,
  body: { data: string; checksum?: string; instanceId?: string },
) {
  const v0 = await requireVolume(fleet, volumeId);
  checkBlockNumber(v0, n);
  const bytes = decodeBlock(body.data);
  const checksum = crc32cHex(bytes);
  if (body.checksum !== undefined && body.checksum !== checksum) {
    throw invalidParameter("body.checksum", `does not match the data, whose CRC-32C is ${checksum}`);
  }
  const io = await passIo(fleet, v0, body.instanceId);
  // The write's place in the volume's order: copies keep, of each block, the write with the highest.
  const [{ seq }] = await fleet.db
    .update(volumes)
    .set({ writeSeq: sql`${volumes.writeSeq} + 1` })
    .where(eq(volumes.id, volumeId))
    .returning({ seq: volumes.writeSeq });
  const block: StoredBlock = { n, seq, checksum, data: bytes.buffer as ArrayBuffer };
  const took = new Set<string>();
  const lost: string[] = [];
  let v = v0;
  // Write to every copy the volume lists, then read the list again: a copy that started syncing
  // meanwhile may have missed this block in its copying, so it is written too before the answer.
  for (let round = 0; round < 6; round++) {
    const live = await liveNodes(fleet, v.row.zone);
    const targets = writeTargets(v.replicas, (id) => live.has(id));
    const pending = targets.filter((r) => !took.has(r.nodeId));
    if (pending.length === 0) {
      if (acknowledged(targets, took)) {
        if (lost.length > 0) await queueResync(fleet, [volumeId]);
        return {
          volumeId,
          block: n,
          bytes: BLOCK_BYTES,
          checksum,
          copies: targets.length,
          health: healthOf(v.replicas),
          io,
        };
      }
      break;
    }
    const answers = await Promise.all(pending.map((r) => nodeStub(fleet, r.nodeId).write(volumeId, block)));
    for (const [i, a] of answers.entries()) {
      const nodeId = pending[i].nodeId;
      if (a.ok) took.add(nodeId);
      else if (a.reason === "bad-checksum") throw new Error(`node ${nodeId} refused a block as corrupt`);
      else {
        // Its node failed (or lost the copy): the volume drops it before this write is acknowledged.
        await degrade(fleet, volumeId, nodeId);
        lost.push(nodeId);
      }
    }
    const next = await loadVolume(fleet, volumeId);
    if (!next) break;
    v = next;
  }
  throw new ApiError(
    503,
    "VolumeUnavailable",
    `The volume '${volumeId}' has no copy left that can take the write`,
    {
      field: "volumeId",
    },
  );
}

/** Reads one block from the first full copy that answers with a block whose checksum holds. */
export async function readBlock(fleet: Fleet, volumeId: string, n: number, q: { instanceId?: string }) {
  const v = await requireVolume(fleet, volumeId);
  checkBlockNumber(v, n);
  const io = await passIo(fleet, v, q.instanceId);
  const live = await liveNodes(fleet, v.row.zone);
  const answer = (source: "volume" | "snapshot" | "zeros", data: ArrayBuffer, checksum: string) => ({
    volumeId,
    block: n,
    data: encodeBlock(data),
    checksum,
    source,
    health: healthOf(v.replicas),
    io,
  });
  for (const r of readSources(v.replicas, (id) => live.has(id))) {
    const a = await nodeStub(fleet, r.nodeId).read(volumeId, n);
    if (!a.ok) {
      if (a.reason !== "bad-checksum") {
        await degrade(fleet, volumeId, r.nodeId);
        await queueResync(fleet, [volumeId]);
      }
      continue;
    }
    if (a.value) {
      if (crc32cHex(new Uint8Array(a.value.data)) !== a.value.checksum) continue;
      return answer("volume", a.value.data, a.value.checksum);
    }
    // Never written on this volume: its snapshot's block (loaded lazily, as EBS does), or zeros.
    const fromSnapshot = v.row.snapshotId ? await restoredBlock(fleet, v.row.snapshotId, n) : null;
    if (fromSnapshot) return answer("snapshot", fromSnapshot.data, fromSnapshot.checksum);
    const zeros = new Uint8Array(BLOCK_BYTES);
    return answer("zeros", zeros.buffer, crc32cHex(zeros));
  }
  throw new ApiError(503, "VolumeUnavailable", `The volume '${volumeId}' has no full copy that can be read`, {
    field: "volumeId",
  });
}
