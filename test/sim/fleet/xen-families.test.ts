// EC2's Xen as it was, on one host model holding both the CPU and the memory model: c4, m4 and r4 guests
// are HVM, paged on EPT, with PV block drivers and SR-IOV networking; an m3 guest may be paravirtual,
// paging directly with hypercalls for its page-table writes, which both models count as one.
import { describe, expect, it } from "vitest";
import {
  type Family,
  findInstanceType,
  HOST_SHAPES,
  type VirtualizationType,
} from "../../../src/sim/catalog";
import { DEFAULT_COSTS, type WorkloadSpec } from "../../../src/sim/cpu";
import { HostModel } from "../../../src/sim/host";
import { C } from "../../../src/sim/memory/counters";
import { type HostRecord, type InstanceRecord, offeredInstance } from "../../../src/sim/records";
import { pvEntryCycles } from "../cpu/fixtures";

function hostOf(family: Family): HostModel {
  const { family: _f, hypervisor, ...hw } = HOST_SHAPES[family];
  const record: HostRecord = {
    hostId: `h-${family}`,
    zone: "test-1a",
    rack: "test-1a-rack-1",
    family,
    hypervisor,
    hw,
    state: "available",
    createdAt: 0,
  };
  let n = 0;
  return new HostModel(record, [], 0, () => `event-${n++}`);
}

let launched = 0;
/** Admits and commits one instance at time 0; returns its id. */
function launch(
  host: HostModel,
  typeName: string,
  virtualizationType: VirtualizationType = "hvm",
  workload: WorkloadSpec = "idle",
  instanceId = `i-${(launched++).toString(16).padStart(17, "0")}`,
  paging: InstanceRecord["paging"] = {},
): string {
  const type = findInstanceType(typeName)!;
  const instance = offeredInstance(type, {
    instanceId,
    accountId: "123456789012",
    reservationId: "r-00000000000000000",
    virtualizationType,
    workload,
    paging,
  });
  const { admitted } = host.admit([instance], 0, { commitIfAtLeast: 1, holdExpiresWallMs: 0 });
  expect(admitted).toEqual([instanceId]);
  return instanceId;
}

const access = (host: HostModel, id: string, gva: number, vcpu: number, now: number) =>
  host.access(id, { asid: 1, gva, vcpu, write: true }, now)!;

describe("EC2's Xen families", () => {
  it("walks an m4 guest in two dimensions on EPT and an m3 PV guest in one, with no exits and its page-table writes as mmu_update hypercalls in both models", () => {
    const m4 = hostOf("m4");
    const m3 = hostOf("m3");
    // 2 MiB EPT leaves, as Xen gave these families where backing is contiguous (without the host's
    // large-pages switch, page sizes default to 4 KiB in both tables).
    const hvm = launch(m4, "m4.large", "hvm", "idle", undefined, { eptPageSize: "2M" });
    const pv = launch(m3, "m3.large", "paravirtual");
    const pages = [0x400000, 0x7f0000401000, 0x7f0000402000, 0x10000000];
    // One access a simulated second.
    let now = 1_000;
    const tick = () => {
      now += 1_000;
      return now;
    };
    for (const [host, id] of [
      [m4, hvm],
      [m3, pv],
    ] as const) {
      for (const gva of pages) access(host, id, gva, 0, tick());
    }
    // vCPU 1's TLB is cold: a full walk over the tables the touches built.
    const twoD = access(m4, hvm, pages[1], 1, tick()).first;
    const oneD = access(m3, pv, pages[1], 1, tick()).first;

    // Two dimensions: every guest level and the final address behind a nested walk. 2 MiB EPT leaves
    // end each nested walk one level early: n = 4 guest levels on m = 3.
    expect(twoD.mode).toBe("ept");
    expect(twoD.guest.every((g) => g.ept !== null && g.ept.references.length === 3)).toBe(true);
    expect(twoD.memoryReferences).toBe((4 + 1) * (3 + 1) - 1);
    // One dimension: the guest's four levels and nothing behind them.
    expect(oneD.mode).toBe("direct");
    expect(oneD.guest.map((g) => g.ept)).toEqual([null, null, null, null]);
    expect(oneD.finalEpt).toBeNull();
    expect(oneD.memoryReferences).toBe(4);

    const mem = m3.memorySummary(pv, now)!;
    expect(mem.vmExits.total).toBe(0);
    expect(mem.hypercalls.mmu_update).toBeGreaterThan(pages.length);
    expect(m4.memorySummary(hvm, now)!.vmExits.total).toBeGreaterThan(0);

    // The CPU model counts the memory model's hypercalls, no more and no fewer, and no exits for them.
    now += 2_000;
    const pvCpu = m3.cpuCounters(pv, now)!;
    expect(pvCpu.mode).toBe("pv");
    expect(pvCpu.hypercalls.mmu_update).toBe(mem.hypercalls.mmu_update);
    expect(pvCpu.hypercalls.mmuext_op).toBe(mem.hypercalls.mmuext_op);
    // Priced as PV entries: an exit among them would add 1,350 cycles or more.
    expect(Math.abs(pvCpu.cycles.hypervisor - pvEntryCycles(pvCpu))).toBeLessThan(1350);
    const hvmCpu = m4.cpuCounters(hvm, now)!;
    expect(hvmCpu.mode).toBe("hvm");
    // Both guests wrote their own page tables; each of the PV guest's writes went to Xen to be validated,
    // none of the HVM guest's did, in either model.
    const ptWrites = (host: HostModel, id: string) => host.memory.vm(id).counters[C.ptWrites];
    expect(ptWrites(m4, hvm)).toBeGreaterThan(0);
    expect(mem.pageTableUpdates).toBe(ptWrites(m3, pv));
    expect(m4.memorySummary(hvm, now)!.hypercalls.mmu_update).toBe(0);
    expect(hvmCpu.hypercalls.mmu_update).toBe(0);
  });

  it("prices the charged hypercalls in the PV guest's hypervisor cycles, at a PV entry and their handlers", () => {
    // The same instance (the same workload draws) with and without the touches.
    const run = (touch: boolean) => {
      const host = hostOf("m3");
      const id = launch(host, "m3.xlarge", "paravirtual", "idle", "i-0000000000000abcd");
      if (touch) for (let p = 0; p < 64; p++) access(host, id, 0x10000000 + p * 0x200000, 0, 1_000);
      return host.cpuCounters(id, 5_000)!;
    };
    const idle = run(false);
    const touched = run(true);
    expect(idle.hypercalls.mmu_update).toBe(0);
    expect(touched.hypercalls.mmu_update).toBeGreaterThan(64);
    const c = DEFAULT_COSTS;
    const price =
      touched.hypercalls.mmu_update * (c.pvHypercallEntry + c.hypercallHandler.mmu_update) +
      touched.hypercalls.mmuext_op * (c.pvHypercallEntry + c.hypercallHandler.mmuext_op);
    expect(touched.cycles.hypervisor - idle.cycles.hypervisor).toBe(price);
  });

  it("gives c4, m4 and r4 guests SR-IOV networking and PV block drivers, and an m3 guest dom0 for both", () => {
    const paths = (family: Family, typeName: string, vt: VirtualizationType = "hvm") => {
      const host = hostOf(family);
      const id = launch(host, typeName, vt, "io_intensive");
      const c = host.cpuCounters(id, 30_000)!;
      return { mode: c.mode, net: c.io.networkPath, blk: c.io.storagePath, io: c.io, dom0: c.cycles.dom0 };
    };
    // An Intel 82599 virtual function on c4 and most m4 sizes; ENA on r4 and m4.16xlarge.
    expect(paths("c4", "c4.large")).toMatchObject({ mode: "hvm", net: "sriov_vf", blk: "blkfront" });
    expect(paths("m4", "m4.xlarge")).toMatchObject({ mode: "hvm", net: "sriov_vf", blk: "blkfront" });
    expect(paths("m4", "m4.16xlarge")).toMatchObject({ mode: "hvm", net: "ena", blk: "blkfront" });
    expect(paths("r4", "r4.large")).toMatchObject({ mode: "hvm", net: "ena", blk: "blkfront" });
    // m3 had no enhanced networking: HVM or PV, its packets cross dom0's netback.
    const m3hvm = paths("m3", "m3.large");
    const m3pv = paths("m3", "m3.large", "paravirtual");
    expect(m3hvm).toMatchObject({ mode: "hvm", net: "netfront", blk: "blkfront" });
    expect(m3pv).toMatchObject({ mode: "pv", net: "netfront", blk: "blkfront" });
    for (const m3 of [m3hvm, m3pv]) expect(m3.io.packetsInHardware).toBe(0);
    const m4 = paths("m4", "m4.xlarge");
    expect(m4.io.packets).toBeGreaterThan(0);
    expect(m4.io.packetsInHardware).toBe(m4.io.packets);
  });

  it("turns a Xen host's SR-IOV off when the host says so, and leaves the m3 family's guests without it", () => {
    const host = hostOf("m4");
    const off = new HostModel(
      { ...host.host, hostId: "h-m4-off", optimizations: { sriov: false } },
      [],
      0,
      () => crypto.randomUUID(),
    );
    const id = launch(off, "m4.large", "hvm", "io_intensive");
    expect(off.cpuCounters(id, 10_000)!.io.networkPath).toBe("netfront");
    const m3 = new HostModel({ ...hostOf("m3").host, optimizations: { sriov: true } }, [], 0, () =>
      crypto.randomUUID(),
    );
    const m3id = launch(m3, "m3.large", "hvm", "io_intensive");
    expect(m3.cpuCounters(m3id, 10_000)!.io.networkPath).toBe("netfront");
  });
});
