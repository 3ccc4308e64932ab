// What an instance's host can tell about it while it runs there: the CPU model's counters,
// the translation of one guest address, and its memory map. D1 says which host to ask;
// the host's object answers.
import type { HostHypervisor } from "../sim/catalog";
import { type InstanceState, occupiesHost } from "../sim/lifecycle";
import type { FleetEvent } from "../sim/records";
import type { Fleet } from "./context";
import { ApiError, invalidParameter } from "./errors";
import { requireInstanceRow } from "./instance-queries";
import { mirrorApplied } from "./mirror";

/** The instance's row and the host it occupies; 409 on none, `lacking` saying what it then lacks. */
export async function hostedRow(fleet: Fleet, id: string, lacking: string) {
  const row = await requireInstanceRow(fleet, id);
  if (!row.hostId || !occupiesHost(row.state as InstanceState)) {
    throw new ApiError(409, "IncorrectInstanceState", `The instance '${id}' is ${row.state}: ${lacking}`, {
      instanceId: id,
      state: row.state,
    });
  }
  return { row, hostId: row.hostId };
}

/**
 * The host's answer about the instance, after mirroring what the call settled. No answer
 * means the instance left the host between D1's word and the call.
 */
async function answerFrom<T>(
  fleet: Fleet,
  id: string,
  res: { result: T | null; events: readonly FleetEvent[] },
): Promise<T> {
  await mirrorApplied(fleet.db, res.events);
  if (!res.result)
    throw new ApiError(409, "IncorrectInstanceState", `The instance '${id}' has left its host`);
  return res.result;
}

const MAX_WINDOW_S = 3600;

export async function instanceCpu(fleet: Fleet, id: string, windowSeconds: number) {
  const { row, hostId } = await hostedRow(fleet, id, "it runs on no host");
  const counters = await answerFrom(
    fleet,
    id,
    await fleet.host(hostId).cpu(id, Math.min(windowSeconds, MAX_WINDOW_S) * 1000, await fleet.clock()),
  );
  return { instanceId: id, hostId, hypervisor: row.hypervisor as HostHypervisor, ...counters };
}

export interface AccessInput {
  address: string;
  addressSpace: number;
  vcpu: number;
  write: boolean;
}

/** Parses "0x7f00_0000", "0X7F000000" or a decimal string into a guest-virtual address. */
export function parseAddress(text: string): number | bigint {
  const clean = text.replaceAll("_", "");
  if (!/^(0[xX][0-9a-fA-F]{1,16}|[0-9]{1,20})$/.test(clean)) {
    throw invalidParameter("body.address", "must be a hex (0x...) or decimal address");
  }
  const value = BigInt(clean);
  if (value >= 2n ** 64n) throw invalidParameter("body.address", "must fit in 64 bits");
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

const hex = (n: number | null) => (n === null ? null : `0x${n.toString(16)}`);

const NO_MEMORY = "it has no memory on a host";

export async function translateAddress(fleet: Fleet, id: string, input: AccessInput) {
  const gva = parseAddress(input.address);
  const { row, hostId } = await hostedRow(fleet, id, NO_MEMORY);
  if (input.vcpu >= row.vcpus) throw invalidParameter("body.vcpu", `the instance has ${row.vcpus} vCPUs`);
  let res: Awaited<ReturnType<ReturnType<Fleet["host"]>["memoryAccess"]>>;
  try {
    res = await fleet
      .host(hostId)
      .memoryAccess(
        id,
        { asid: input.addressSpace, gva, vcpu: input.vcpu, write: input.write },
        await fleet.clock(),
      );
  } catch (err) {
    // The model refuses addresses it cannot hold (non-canonical, beyond the paging mode).
    if (err instanceof Error && err.name === "RangeError")
      throw invalidParameter("body.address", err.message);
    throw err;
  }
  const { first, handled, final } = await answerFrom(fleet, id, res);
  const done = final ?? first;
  return {
    instanceId: id,
    hostId,
    address: input.address,
    addressSpace: input.addressSpace,
    hpa: hex(done.hpa),
    gpa: hex(done.gpa),
    pageSize: done.pageSize,
    tlbHit: first.tlbHit,
    fault: first.fault,
    faultsHandled: handled,
    firstAttempt: first,
    retried: final,
  };
}

export async function instanceMemory(fleet: Fleet, id: string) {
  const { hostId } = await hostedRow(fleet, id, NO_MEMORY);
  const summary = await answerFrom(
    fleet,
    id,
    await fleet.host(hostId).memorySummary(id, await fleet.clock()),
  );
  return { instanceId: id, hostId, ...summary };
}
