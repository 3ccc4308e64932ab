// The instance store: local NVMe disks of the `d` types, backed by the host the instance runs on. Its
// blocks live in the host object beside the VM (host/block-io.ts): a reboot keeps them; a stop, a
// terminate, a host failure or a move to another host ends the VM's stay there, and they go with it.
import { findInstanceType } from "../sim/catalog";
import { BLOCK_BYTES } from "../sim/storage/checksum";
import type { Fleet } from "./context";
import { ApiError, invalidParameter } from "./errors";
import { requireInstanceRow } from "./instance-queries";
import { decodeBlock, encodeBlock } from "./volume-blocks";

async function localTarget(fleet: Fleet, instanceId: string, n: number) {
  const inst = await requireInstanceRow(fleet, instanceId);
  const type = findInstanceType(inst.instanceType);
  const gb = type?.instanceStorage.totalGB ?? 0;
  if (gb === 0) {
    throw new ApiError(400, "UnsupportedOperation", `${inst.instanceType} has no instance store (EBS only)`, {
      instanceId,
    });
  }
  const blocks = Math.floor((gb * 1e9) / BLOCK_BYTES);
  if (!Number.isInteger(n) || n < 0 || n >= blocks) {
    throw invalidParameter(
      "path.n",
      `must be a block number from 0 to ${blocks - 1} (${gb} GB of 4 KiB blocks)`,
    );
  }
  const notRunning = (state: string) =>
    new ApiError(
      409,
      "IncorrectInstanceState",
      `The instance '${instanceId}' is ${state}: its instance store is reachable only while it runs`,
      {
        instanceId,
      },
    );
  if (!inst.hostId || inst.state !== "running") throw notRunning(inst.state);
  return { hostId: inst.hostId, gb, notRunning };
}

export async function writeLocalBlock(fleet: Fleet, instanceId: string, n: number, body: { data: string }) {
  const t = await localTarget(fleet, instanceId, n);
  const data = decodeBlock(body.data);
  const res = await fleet
    .host(t.hostId)
    .instanceStoreWrite(instanceId, n, data.buffer as ArrayBuffer, await fleet.clock());
  const r = res.result;
  if (r.status !== "ok") throw t.notRunning(r.status === "not-running" ? r.state : "changing hosts");
  return { instanceId, block: n, checksum: r.value.checksum, written: true, sizeGB: t.gb };
}

export async function readLocalBlock(fleet: Fleet, instanceId: string, n: number) {
  const t = await localTarget(fleet, instanceId, n);
  const res = await fleet.host(t.hostId).instanceStoreRead(instanceId, n, await fleet.clock());
  const r = res.result;
  if (r.status !== "ok") throw t.notRunning(r.status === "not-running" ? r.state : "changing hosts");
  return {
    instanceId,
    block: n,
    checksum: r.value.checksum,
    data: encodeBlock(r.value.data),
    written: r.value.written,
    sizeGB: t.gb,
  };
}
