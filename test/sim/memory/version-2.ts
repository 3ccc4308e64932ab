// Snapshots as HostMemorySnapshot version 2 laid out its TLBs, built from that layout's definition,
// for the tests that read what hosts stored before version 3.
import type { HostMemorySnapshot } from "../../../src/sim/memory/index";
import type { CompactTlbSnapshot, TlbSnapshot } from "../../../src/sim/memory/tlb";

/**
 * A TLB in version 2's layout: each live slot's position among the slots of the arrays laid end to
 * end, and its tag, context, base and permissions. In version 3 a slot is three numbers: tag + 1
 * (0 when empty), ctx * 4 + perm (perm < 4), base.
 */
export function compactTlb(t: TlbSnapshot): CompactTlbSnapshot {
  const live: number[] = [];
  for (let i = 0; i < t.entries.length / 3; i++) if (t.entries[i * 3] !== 0) live.push(i);
  const meta = (i: number) => t.entries[i * 3 + 1];
  return {
    slot: Int32Array.from(live),
    tag: Float64Array.from(live, (i) => t.entries[i * 3] - 1),
    ctx: Int32Array.from(live, (i) => Math.floor(meta(i) / 4)),
    base: Float64Array.from(live, (i) => t.entries[i * 3 + 2]),
    perm: Uint8Array.from(live, (i) => meta(i) - 4 * Math.floor(meta(i) / 4)),
    fifo: t.fifo.slice(),
    resident: t.state[0],
    residentUntagged: t.state[1] === 1,
    held: t.state[2],
  };
}

/** A version-3 snapshot as version 2 would have stored the same host: its threads' and VMs' TLBs compact. */
export function asVersion2(s: HostMemorySnapshot): HostMemorySnapshot {
  return {
    ...s,
    version: 2,
    threadTlbs: s.threadTlbs?.map(({ thread, tlb }) => ({ thread, tlb: compactTlb(tlb as TlbSnapshot) })),
    vms: s.vms.map(({ vmId, vm }) => ({
      vmId,
      vm: { ...vm, tlbs: vm.tlbs.map((t) => compactTlb(t as TlbSnapshot)) },
    })),
  };
}
