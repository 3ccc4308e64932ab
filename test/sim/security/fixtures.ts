// A host model with VMs of two accounts, for the security tests.
import { expect } from "vitest";
import { findInstanceType, HOST_SHAPES } from "../../../src/sim/catalog";
import { HostModel } from "../../../src/sim/host";
import { type HostRecord, offeredInstance, type PagingOptions } from "../../../src/sim/records";
import { MemoryEncryption } from "../../../src/sim/security/memory-encryption";

export const ACCOUNT_A = "111111111111";
export const ACCOUNT_B = "222222222222";

export function nitroHost(): HostModel {
  const { family: _f, hypervisor, ...hw } = HOST_SHAPES.m5;
  const record: HostRecord = {
    hostId: "h-00000000000000001",
    zone: "test-1a",
    rack: "test-1a-rack-1",
    family: "m5",
    hypervisor,
    hw,
    state: "available",
    createdAt: 0,
  };
  let n = 0;
  return new HostModel(record, [], 0, () => `event-${n++}`);
}

let launched = 0;
export function launch(
  host: HostModel,
  accountId: string,
  typeName = "m5.large",
  paging: PagingOptions = { eptPageSize: "4K" },
): string {
  const instanceId = `i-${(0xa0000 + launched++).toString(16).padStart(17, "0")}`;
  const instance = offeredInstance(findInstanceType(typeName)!, {
    instanceId,
    accountId,
    reservationId: "r-00000000000000000",
    paging,
  });
  const { admitted } = host.admit([instance], 0, { commitIfAtLeast: 1, holdExpiresWallMs: 0 });
  expect(admitted).toEqual([instanceId]);
  return instanceId;
}

/** Keys from a counter: deterministic, and distinct as random keys would be. */
export function countingRandom(): (n: number) => Uint8Array {
  let seed = 1;
  return (n) =>
    Uint8Array.from({ length: n }, () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed >>> 24;
    });
}

export const encryptionFor = (host: HostModel) => {
  const enc = new MemoryEncryption(countingRandom());
  enc.sync(host.memory.vmIds());
  return enc;
};

export const text = (s: string) => new TextEncoder().encode(s);
