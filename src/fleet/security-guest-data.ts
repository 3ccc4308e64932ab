// A guest's own data in its memory: written and read by the owning account through the instance's
// translation and its memory key; the operator sees a frame only as the host does, as ciphertext.
import { base64url } from "../sim/security/attestation";
import type { Fleet } from "./context";
import { ApiError, invalidParameter } from "./errors";
import { requireHostRow } from "./hosts";
import { hostedRow, parseAddress } from "./instance-telemetry";
import { mirrorApplied } from "./mirror";
import { creatorAccount } from "./ownership";

export interface GuestDataInput {
  address: string;
  addressSpace: number;
  vcpu: number;
}

const hex = (n: number) => `0x${n.toString(16)}`;
const bytesToBase64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));

function decodeBase64(field: string, text: string): Uint8Array {
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    throw invalidParameter(field, "must be base64");
  }
}

async function onHost<T>(
  fleet: Fleet,
  id: string,
  input: GuestDataInput,
  run: (hostId: string, gva: number | bigint) => Promise<T>,
) {
  const gva = parseAddress(input.address);
  // Only the owner's key reaches here (the access table); creatorAccount refuses any other again.
  creatorAccount(fleet.caller);
  const { row, hostId } = await hostedRow(fleet, id, "it has no memory on a host");
  if (input.vcpu >= row.vcpus) throw invalidParameter("body.vcpu", `the instance has ${row.vcpus} vCPUs`);
  try {
    return { hostId, out: await run(hostId, gva) };
  } catch (err) {
    if (err instanceof Error && err.name === "RangeError")
      throw invalidParameter("body.address", err.message);
    throw err;
  }
}

function landed<T>(id: string, r: T | null): T {
  if (!r) throw new ApiError(409, "IncorrectInstanceState", `The instance '${id}' has left its host`);
  return r;
}

export async function writeGuestData(fleet: Fleet, id: string, input: GuestDataInput & { data: string }) {
  const bytes = decodeBase64("body.data", input.data);
  if (bytes.length === 0) throw invalidParameter("body.data", "must hold at least one byte");
  const { hostId, out } = await onHost(fleet, id, input, async (hostId, gva) => {
    const res = await fleet
      .host(hostId)
      .guestWrite(id, { asid: input.addressSpace, gva, vcpu: input.vcpu }, bytes, await fleet.clock());
    await mirrorApplied(fleet.db, res.events);
    return landed(id, res.result);
  });
  return {
    instanceId: id,
    hostId,
    address: input.address,
    bytes: bytes.length,
    gpa: hex(out.gpa),
    hpa: hex(out.hpa),
  };
}

export async function readGuestData(fleet: Fleet, id: string, input: GuestDataInput & { length: number }) {
  const { hostId, out } = await onHost(fleet, id, input, async (hostId, gva) => {
    const res = await fleet
      .host(hostId)
      .guestRead(id, { asid: input.addressSpace, gva, vcpu: input.vcpu }, input.length, await fleet.clock());
    await mirrorApplied(fleet.db, res.events);
    return landed(id, res.result);
  });
  return {
    instanceId: id,
    hostId,
    address: input.address,
    gpa: hex(out.gpa),
    hpa: hex(out.hpa),
    data: bytesToBase64(out.bytes),
  };
}

/** The host's view of one frame (admin): who owns it, under which key slot, and its ciphertext. */
export async function hostFrame(fleet: Fleet, hostId: string, hpaText: string) {
  await requireHostRow(fleet, hostId);
  if (!/^0x[0-9a-fA-F]{1,13}$/.test(hpaText))
    throw invalidParameter("query.hpa", "must be a hex address (0x...)");
  const hpa = Number.parseInt(hpaText.slice(2), 16);
  const res = await fleet.host(hostId).frameView(hpa, await fleet.clock());
  await mirrorApplied(fleet.db, res.events);
  if (!res.result) throw invalidParameter("query.hpa", "is beyond the host's memory");
  const { ownerId, keyId, ciphertext } = res.result;
  return {
    hostId,
    hpa: hex(Math.floor(hpa / 4096) * 4096),
    ownerId,
    keyId,
    encrypted: ciphertext !== null,
    ciphertext: ciphertext === null ? null : base64url.encode(ciphertext),
  };
}
