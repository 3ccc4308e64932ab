// Reading a host object's VMs without an answer that grows with the host: summaries a page
// at a time, and whole records a bounded chunk at a time (host/host-object.ts).
import { RECORDS_MAX, VM_PAGE_MAX } from "../host/answer";
import type { VmSummary } from "../host/host-object";
import type { InstanceRecord } from "../sim/records";
import type { Fleet } from "./context";

type HostStub = ReturnType<Fleet["host"]>;

/** Every VM on the host a page at a time, in order of id, held ones included. */
export async function* vmPages(host: HostStub): AsyncGenerator<VmSummary[], void, undefined> {
  let after: string | null = null;
  do {
    const page = await host.vmPage(after, VM_PAGE_MAX);
    if (!page) return;
    yield page.vms;
    after = page.next;
  } while (after !== null);
}

/** The whole records of `ids`, asked for RECORDS_MAX at a time. */
export async function recordsOf(
  host: HostStub,
  ids: readonly string[],
): Promise<{ onHost: InstanceRecord[]; departed: InstanceRecord[] }> {
  const out = { onHost: [] as InstanceRecord[], departed: [] as InstanceRecord[] };
  for (let at = 0; at < ids.length; at += RECORDS_MAX) {
    const part = await host.records(ids.slice(at, at + RECORDS_MAX));
    if (!part) break;
    out.onHost.push(...part.onHost);
    out.departed.push(...part.departed);
  }
  return out;
}
