// A guest's own reads and writes of data, through its translation and its memory key: the bytes go
// to the host frame the access reaches, encrypted (memory-encryption.ts). Only the owning account's
// requests come here; the host and the operator see frames as ciphertext (MemoryEncryption.hostView).

import type { HostModel } from "../host";
import { PAGE_4K } from "../memory/constants";
import type { MemoryEncryption } from "./memory-encryption";

/** Bytes in one guest read or write: up to one page, and no more than the page holds from the address. */
export const GUEST_DATA_MAX_BYTES = PAGE_4K;

export interface GuestAccess {
  asid: number;
  gva: number | bigint;
  vcpu: number;
}

/** Where an access landed: the addresses, and nothing of the data. */
export interface GuestDataPlace {
  gpa: number;
  hpa: number;
}

function place(
  m: HostModel,
  instanceId: string,
  a: GuestAccess,
  write: boolean,
  length: number,
  now: number,
) {
  const res = m.access(instanceId, { ...a, write }, now);
  if (!res) return null;
  const done = res.final ?? res.first;
  if (done.hpa === null || done.gpa === null) throw new RangeError("the address is not guest RAM");
  const offset = done.hpa % PAGE_4K;
  if (offset + length > PAGE_4K)
    throw new RangeError(
      `the ${length} bytes from this address cross a 4 KiB page (${PAGE_4K - offset} fit)`,
    );
  return { gpa: done.gpa, hpa: done.hpa, hfn: Math.floor(done.hpa / PAGE_4K), offset };
}

/** The guest writes `bytes` at `a.gva`; faults are handled as any access's are. Null if the VM is not here. */
export function writeGuest(
  m: HostModel,
  enc: MemoryEncryption,
  instanceId: string,
  a: GuestAccess,
  bytes: Uint8Array,
  now: number,
): GuestDataPlace | null {
  if (bytes.length === 0 || bytes.length > GUEST_DATA_MAX_BYTES)
    throw new RangeError(`a write carries 1 to ${GUEST_DATA_MAX_BYTES} bytes`);
  const p = place(m, instanceId, a, true, bytes.length, now);
  if (!p) return null;
  enc.sync(m.memory.vmIds());
  enc.write(instanceId, p.hfn, p.offset, bytes);
  return { gpa: p.gpa, hpa: p.hpa };
}

/** The guest reads `length` bytes at `a.gva`, decrypted with its own key. Null if the VM is not here. */
export function readGuest(
  m: HostModel,
  enc: MemoryEncryption,
  instanceId: string,
  a: GuestAccess,
  length: number,
  now: number,
): (GuestDataPlace & { bytes: Uint8Array }) | null {
  if (!Number.isInteger(length) || length < 1 || length > GUEST_DATA_MAX_BYTES)
    throw new RangeError(`a read takes 1 to ${GUEST_DATA_MAX_BYTES} bytes`);
  const p = place(m, instanceId, a, false, length, now);
  if (!p) return null;
  enc.sync(m.memory.vmIds());
  const bytes = enc.read(instanceId, p.hfn).subarray(p.offset, p.offset + length);
  return { gpa: p.gpa, hpa: p.hpa, bytes: Uint8Array.from(bytes) };
}
