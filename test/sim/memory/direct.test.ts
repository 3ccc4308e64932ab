// Xen PV direct paging (Barham et al., SOSP 2003, §2.1.1): the guest's own tables are the hardware's,
// so a walk has one dimension, and every page-table write is an mmu_update hypercall instead of a VM
// exit, batched as Linux's arch/x86/xen/mmu_pv.c and multicalls.c batch them.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MMU_UPDATES_PER_BATCH } from "../../../src/sim/hypercalls";
import { HostMemory, PAGE_2M, PAGE_4K, type VmMemoryOptions } from "../../../src/sim/memory/index";

const GiB = 1024 ** 3;

/** A first touch from vCPU 0 builds the tables; vCPU 1's TLB is cold, so its translation walks. */
function coldWalk(options: VmMemoryOptions, gva = 0x7f0000401000) {
  const host = new HostMemory(8 * GiB);
  // 4 KiB EPT leaves so the two-dimensional walk has its full length; a P2M's leaves cost no walk.
  host.createVm("vm", GiB, { eptPageSize: options.mode === "ept" ? PAGE_4K : PAGE_2M, ...options });
  host.touch("vm", 1, gva, true, 0);
  const before = host.vmSummary("vm").walks;
  const t = host.translate("vm", 1, gva, 1);
  const after = host.vmSummary("vm").walks;
  return {
    host,
    t,
    walks: after.count - before.count,
    refs: after.memoryReferences - before.memoryReferences,
  };
}

describe("direct paging", () => {
  it("walks a PV guest's own tables in one dimension, one reference per level, where EPT walks two", () => {
    const direct = coldWalk({ mode: "direct" });
    const ept = coldWalk({ mode: "ept" });
    const levels = 4;
    expect(direct.t.fault).toBeNull();
    expect(direct.t.mode).toBe("direct");
    // One dimension: the guest's levels and nothing behind them.
    expect(direct.t.memoryReferences).toBe(levels);
    expect(direct.t.guest.map((g) => g.ept)).toEqual([null, null, null, null]);
    expect(direct.t.finalEpt).toBeNull();
    // Two dimensions: each of the n guest references and the final GPA need an m-level nested walk.
    expect(ept.t.memoryReferences).toBe((levels + 1) * (levels + 1) - 1);
    // Both reach the page the guest mapped.
    expect(direct.t.hpa).toBe(direct.host.touch("vm", 1, 0x7f0000401000, false).hpa);
    // The counters the summary shows agree with the trace: one walk, n references.
    expect([direct.walks, direct.refs]).toEqual([1, levels]);
    expect(direct.host.vmSummary("vm").vmExits.total).toBe(0);
    expect(ept.host.vmSummary("vm").vmExits.total).toBeGreaterThan(0);
  });

  it("reads each level's entry at the machine address of its table, as the P2M maps it", () => {
    const { host, t } = coldWalk({ mode: "direct" });
    const vm = host.vm("vm");
    for (const step of t.guest) {
      const machine = vm.eptLeaf(step.entryGpa);
      expect(step.reference?.hpa).toBe(machine?.hpa);
      expect(host.ownerOf(step.reference?.hpa as number)).toBe("vm");
    }
    for (let i = 0; i + 1 < t.guest.length; i++) {
      const entry = t.guest[i].entry as number;
      expect(entry - (entry % PAGE_4K)).toBe(t.guest[i + 1].tableGpa);
    }
  });

  it("gives a PV guest all its memory when it is built, so touching it never exits", () => {
    const host = new HostMemory(8 * GiB);
    host.createVm("pv", 2 * GiB, { mode: "direct" });
    host.createVm("hvm", 2 * GiB, { mode: "ept" });
    expect(host.vmSummary("pv").backedBytes).toBe(2 * GiB);
    expect(host.vmSummary("hvm").backedBytes).toBe(0);
    for (let a = 0; a < 64; a++) {
      host.touch("pv", 1, 0x10000000 + a * PAGE_2M, true);
      host.touch("hvm", 1, 0x10000000 + a * PAGE_2M, true);
    }
    const pv = host.vmSummary("pv");
    expect(pv.backedBytes).toBe(2 * GiB);
    expect(pv.faults.eptViolations).toBe(0);
    expect(pv.vmExits.total).toBe(0);
    expect(pv.faults.guestPageFaults).toBe(host.vmSummary("hvm").faults.guestPageFaults);
    expect(host.vmSummary("hvm").faults.eptViolations).toBeGreaterThan(0);
  });

  it("refuses to build a PV guest the host cannot give all its memory, and keeps nothing of it", () => {
    const host = new HostMemory(4 * GiB);
    host.createVm("a", 3 * GiB, { mode: "direct" });
    const free = host.hostSummary().freeFrames;
    expect(() => host.createVm("b", 2 * GiB, { mode: "direct" })).toThrow(/frame/);
    expect(host.hasVm("b")).toBe(false);
    expect(host.hostSummary().freeFrames).toBe(free);
  });

  it("asks Xen for each page-table write of a page fault: one mmu_update per entry, no exits", () => {
    const host = new HostMemory(8 * GiB);
    host.createVm("vm", GiB, { mode: "direct" });
    host.touch("vm", 1, 0x400000, true);
    const before = host.vmSummary("vm");
    // A fault far from the first: new tables below the root, linked one by one, then the leaf.
    host.touch("vm", 1, 0x7f0000000000, true);
    const after = host.vmSummary("vm");
    const newTables = (after.pageTableBytes.guest - before.pageTableBytes.guest) / PAGE_4K;
    expect(newTables).toBeGreaterThan(0);
    const writes = after.pageTableUpdates - before.pageTableUpdates;
    // Each new table is linked by a write into the one above, and the leaf is one more.
    expect(writes).toBe(newTables + 1);
    // Outside a lazy-MMU section each write is a hypercall of its own (__xen_set_pte).
    expect(after.hypercalls.mmu_update - before.hypercalls.mmu_update).toBe(writes);
    // Each new table is validated and pinned before it is linked.
    expect(after.hypercalls.mmuext_op - before.hypercalls.mmuext_op).toBe(newTables);
    expect(after.vmExits.total).toBe(0);
  });

  it("loads CR3 through Xen (an mmuext_op) where shadow paging takes a VM exit", () => {
    const run = (mode: "direct" | "shadow") => {
      const host = new HostMemory(8 * GiB);
      host.createVm("vm", GiB, { mode });
      host.touch("vm", 1, 0x400000, false);
      host.touch("vm", 2, 0x400000, false);
      const before = host.vmSummary("vm");
      for (let i = 0; i < 10; i++) host.translate("vm", i % 2 === 0 ? 1 : 2, 0x400000);
      const after = host.vmSummary("vm");
      return {
        mmuext: after.hypercalls.mmuext_op - before.hypercalls.mmuext_op,
        cr3Exits: after.vmExits.cr3Write - before.vmExits.cr3Write,
      };
    };
    const direct = run("direct");
    const shadow = run("shadow");
    expect(direct.cr3Exits).toBe(0);
    expect(direct.mmuext).toBe(shadow.cr3Exits);
    expect(shadow.mmuext).toBe(0);
  });

  it("batches a munmap's updates into mmu_update hypercalls of 32 and flushes the TLB once", () => {
    const pages = 100;
    const run = (range: boolean) => {
      const host = new HostMemory(8 * GiB);
      host.createVm("vm", GiB, { mode: "direct" });
      for (let p = 0; p < pages; p++) host.touch("vm", 1, 0x10000000 + p * PAGE_4K, true);
      const before = host.vmSummary("vm");
      if (range) expect(host.unmapRange("vm", 1, 0x10000000, pages * PAGE_4K)).toBe(pages);
      else for (let p = 0; p < pages; p++) host.unmap("vm", 1, 0x10000000 + p * PAGE_4K);
      const after = host.vmSummary("vm");
      for (const p of [0, pages - 1])
        expect(host.translate("vm", 1, 0x10000000 + p * PAGE_4K).fault).toBe("guest_page_fault");
      return {
        updates: after.pageTableUpdates - before.pageTableUpdates,
        mmuUpdates: after.hypercalls.mmu_update - before.hypercalls.mmu_update,
        flushes: after.hypercalls.mmuext_op - before.hypercalls.mmuext_op,
        exits: after.vmExits.total,
      };
    };
    const batched = run(true);
    const oneByOne = run(false);
    expect(batched.updates).toBe(pages);
    expect(batched.mmuUpdates).toBe(Math.ceil(pages / MMU_UPDATES_PER_BATCH));
    expect(batched.flushes).toBe(1);
    expect(oneByOne.updates).toBe(pages);
    expect(oneByOne.mmuUpdates).toBe(pages);
    expect(oneByOne.flushes).toBe(pages);
    expect(batched.exits + oneByOne.exits).toBe(0);
  });

  it("never lets Xen move a PV guest's frames behind its back", () => {
    const host = new HostMemory(8 * GiB);
    host.createVm("vm", GiB, { mode: "direct" });
    host.touch("vm", 1, 0x400000, true);
    expect(host.remap("vm", 0)).toBeNull();
  });

  it("refuses 5-level paging for a PV guest, which Xen's 64-bit PV interface does not have", () => {
    const host = new HostMemory(8 * GiB);
    expect(() => host.createVm("vm", GiB, { mode: "direct", guestLevels: 5 })).toThrow(/guestLevels/);
  });

  it("runs a PV guest's TLB untagged and without global pages, so a CR3 load empties it", () => {
    const kernel = 0xffff800000400000n;
    const run = (mode: "direct" | "ept") => {
      const host = new HostMemory(8 * GiB);
      // PCIDs off for the HVM guest too, so the global bit alone decides what a CR3 load keeps.
      host.createVm("vm", GiB, { mode, vcpus: 1, ...(mode === "ept" ? { pcid: false } : {}) });
      host.touch("vm", 2, 0x800000, false);
      host.touch("vm", 1, 0x400000, false);
      host.touch("vm", 1, kernel, false);
      host.translate("vm", 1, kernel);
      // Process 2, then back to 1.
      host.translate("vm", 2, 0x800000);
      return {
        summary: host.vmSummary("vm"),
        user: host.translate("vm", 1, 0x400000).tlbHit,
        kernel: host.translate("vm", 1, kernel).tlbHit,
        global: host.vm("vm").guestLeaf(1, Number(kernel & 0xffffffffffffn))?.global,
      };
    };
    const pv = run("direct");
    const hvm = run("ept");
    expect([pv.summary.vpid, pv.summary.pcid]).toEqual([false, false]);
    expect([hvm.summary.vpid, hvm.summary.pcid]).toEqual([true, false]);
    // Linux under Xen PV keeps CR4.PGE clear: the kernel's page is not global, and the CR3 load drops it.
    expect(pv.global).toBe(false);
    expect([pv.user, pv.kernel]).toEqual([false, false]);
    expect(hvm.global).toBe(true);
    expect([hvm.user, hvm.kernel]).toEqual([false, true]);
  });

  it("refuses VPID and PCID tags for a PV guest, which is no VMX guest and cannot set CR4.PCIDE", () => {
    const host = new HostMemory(8 * GiB);
    expect(() => host.createVm("a", GiB, { mode: "direct", vpid: true })).toThrow(/vpid/);
    expect(() => host.createVm("b", GiB, { mode: "direct", pcid: true })).toThrow(/pcid/);
    expect(() => host.createVm("c", GiB, { mode: "direct", tagged: true })).toThrow(/vpid|pcid/);
    expect(host.hasVm("a") || host.hasVm("b") || host.hasVm("c")).toBe(false);
    // Said plainly, false is what it gets anyway.
    host.createVm("d", GiB, { mode: "direct", vpid: false, pcid: false, tagged: false });
    expect(host.vmSummary("d")).toMatchObject({ vpid: false, pcid: false });
  });

  it("loses a PV guest's entries to another VM's turn on its thread, while a VPID-tagged guest's wait", () => {
    const host = new HostMemory(8 * GiB);
    host.createVm("pv", GiB, { mode: "direct", vcpus: 1, threads: [5] });
    host.createVm("hvm", GiB, { mode: "ept", vcpus: 1, threads: [5] });
    host.touch("pv", 1, 0x400000, false);
    host.touch("hvm", 1, 0x400000, false);
    // The PV guest's entries were VPID 0's: the HVM guest's VM entry dropped them.
    const pv = host.translate("pv", 1, 0x400000);
    expect(pv.tlbHit).toBe(false);
    expect(pv.memoryReferences).toBe(4);
    // The HVM guest's entries carry its VPID: the PV guest's turn (a CR3 load in root mode) kept them.
    expect(host.translate("hvm", 1, 0x400000).tlbHit).toBe(true);
    expect(host.vmSummary("pv").tlb.flushes).toBeGreaterThan(0);
  });

  it("translates as an independent reference does under random touches, unmaps and restores", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            unmap: fc.boolean(),
            asid: fc.integer({ min: 0, max: 2 }),
            page: fc.integer({ min: 0, max: 31 }),
            span: fc.integer({ min: 1, max: 40 }),
            write: fc.boolean(),
            vcpu: fc.integer({ min: 0, max: 1 }),
            restore: fc.boolean(),
          }),
          { minLength: 10, maxLength: 60 },
        ),
        (ops) => {
          let host = new HostMemory(4 * GiB);
          host.createVm("vm", GiB, { mode: "direct" });
          // The reference: guest page → machine page, learned from touches, forgotten on unmaps.
          const ref = new Map<string, number>();
          for (const o of ops) {
            const gva = 0x20000000 + o.page * 7 * PAGE_4K + 40;
            if (o.unmap) {
              const base = gva - (gva % PAGE_4K);
              host.unmapRange("vm", o.asid, base, o.span * PAGE_4K);
              for (let p = 0; p < o.span; p++) ref.delete(`${o.asid}:${base / PAGE_4K + p}`);
            } else {
              const r = host.touch("vm", o.asid, gva, o.write, o.vcpu);
              const key = `${o.asid}:${Math.floor(gva / PAGE_4K)}`;
              const known = ref.get(key);
              if (known !== undefined) expect(Math.floor((r.hpa as number) / PAGE_4K)).toBe(known);
              ref.set(key, Math.floor((r.hpa as number) / PAGE_4K));
              expect(host.ownerOf(r.hpa as number)).toBe("vm");
              // The step-by-step trace throws if it and the hardware walk disagree.
              const t = host.translate("vm", o.asid, gva, 1 - o.vcpu, o.write);
              expect(t.hpa).toBe(r.hpa);
              expect(t.tlbHit || t.memoryReferences === 4).toBe(true);
            }
            if (o.restore) host = HostMemory.restore(structuredClone(host.snapshot()));
          }
          for (const [key, hfn] of ref) {
            const [asid, vpn] = key.split(":").map(Number);
            expect(Math.floor((host.touch("vm", asid, vpn * PAGE_4K, false).hpa as number) / PAGE_4K)).toBe(
              hfn,
            );
          }
          expect(host.vmSummary("vm").vmExits.total).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });
});
