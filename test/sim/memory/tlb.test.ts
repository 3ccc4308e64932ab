import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_TLB,
  HostMemory,
  type HostMemorySnapshot,
  PAGE_4K,
  resolveOptions,
} from "../../../src/sim/memory/index";
import { asVersion2 } from "./version-2";

const GiB = 1024 ** 3;
const USER = 0x400000;
/** In the upper half: the guest kernel maps it global, in every address space. */
const KERNEL = 0xffff800000400000n;
const OTHER_PROCESS_PAGE = 0x800000;

// The rules the expectations come from, as the Intel SDM states them.

/**
 * Vol. 3A §4.10.4.1: MOV to CR3 with CR4.PCIDE = 0 invalidates every TLB entry of the current VPID
 * except global ones. With CR4.PCIDE = 1 and bit 63 of the source set, which is how this guest
 * returns to a process whose PCID it still holds, it invalidates none.
 */
const keptAcrossCr3Write = (pcid: boolean, global: boolean) => pcid || global;

/**
 * Vol. 3C §28.3.3.1: if the "enable VPID" control is 0, VM entries and VM exits invalidate the linear
 * and combined mappings of VPID 0000H, global ones included. With a VPID, neither invalidates any.
 */
const keptAcrossVmTransition = (vpid: boolean) => vpid;

const flags = [
  { vpid: true, pcid: true },
  { vpid: true, pcid: false },
  { vpid: false, pcid: true },
  { vpid: false, pcid: false },
];

/** A VM on one vCPU with a user page and the kernel page mapped in process 1, and a page in process 2. */
function mapped(opts: { vpid: boolean; pcid: boolean }, mmioBytes = 0): HostMemory {
  const host = new HostMemory(8 * GiB);
  host.createVm("vm", GiB, { ...opts, vcpus: 1, mmioBytes });
  host.touch("vm", 2, OTHER_PROCESS_PAGE, false);
  host.touch("vm", 1, USER, false);
  host.touch("vm", 1, KERNEL, false);
  // Mapping took faults, whose exits may have flushed: translate once more, with nothing left to fault.
  host.translate("vm", 1, USER);
  host.translate("vm", 1, KERNEL);
  return host;
}

describe("TLB tags: VPID, PCID and global pages", () => {
  it("with VPID and no PCID, CR3 1→2→1 misses on a user page and hits on a global kernel page (SDM Vol. 3A §4.10.4.1)", () => {
    const host = mapped({ vpid: true, pcid: false });
    host.translate("vm", 2, OTHER_PROCESS_PAGE);
    const user = host.translate("vm", 1, USER);
    const kernel = host.translate("vm", 1, KERNEL);
    expect(user.tlbHit).toBe(keptAcrossCr3Write(false, false));
    expect(user.tlbHit).toBe(false);
    expect(user.fault).toBeNull();
    expect(kernel.tlbHit).toBe(keptAcrossCr3Write(false, true));
    expect(kernel.tlbHit).toBe(true);
    expect(kernel.memoryReferences).toBe(0);
  });

  it.each(flags)("keeps exactly what §4.10.4.1 keeps across CR3 1→2→1 (vpid $vpid, pcid $pcid)", (opts) => {
    const host = mapped(opts);
    const exitsBefore = host.vmSummary("vm").vmExits.total;
    host.translate("vm", 2, OTHER_PROCESS_PAGE);
    expect(host.translate("vm", 1, USER).tlbHit).toBe(keptAcrossCr3Write(opts.pcid, false));
    expect(host.translate("vm", 1, KERNEL).tlbHit).toBe(keptAcrossCr3Write(opts.pcid, true));
    // Under EPT nothing above exits, so only the CR3 rule is at work.
    expect(host.vmSummary("vm").vmExits.total).toBe(exitsBefore);
  });

  it.each(flags)(
    "keeps entries across a VM exit only with VPID, global ones too (SDM Vol. 3C §28.3.3.1; vpid $vpid, pcid $pcid)",
    (opts) => {
      const host = mapped(opts, 16 * PAGE_4K);
      const exitsBefore = host.vmSummary("vm").vmExits.total;
      // The guest touches device memory: the hypervisor takes an exit and resumes it.
      expect(host.touchPhysical("vm", GiB + PAGE_4K).mmio).toBe(true);
      expect(host.vmSummary("vm").vmExits.total).toBeGreaterThan(exitsBefore);
      expect(host.translate("vm", 1, USER).tlbHit).toBe(keptAcrossVmTransition(opts.vpid));
      expect(host.translate("vm", 1, KERNEL).tlbHit).toBe(keptAcrossVmTransition(opts.vpid));
    },
  );

  it("serves a global entry to every process, from the kernel tables they share (SDM Vol. 3A §4.10.2.4)", () => {
    const host = new HostMemory(8 * GiB);
    host.createVm("vm", GiB, { vcpus: 1 });
    host.touch("vm", 2, USER, true);
    const first = host.touch("vm", 1, KERNEL, true);
    // Process 2 existed before the kernel mapped the page and never touched it: its tables map it
    // all the same, and the TLB already has it.
    const t = host.translate("vm", 2, KERNEL);
    expect(t.tlbHit).toBe(true);
    expect(t.hpa).toBe(first.hpa);
    expect(host.vm("vm").guestLeaf(2, Number(KERNEL & 0xffffffffffffn))?.global).toBe(true);
    expect(host.vm("vm").guestLeaf(1, USER)).toBeNull();
  });

  it("drops a kernel page's global entry for every process when the kernel unmaps it (INVLPG, SDM Vol. 3A §4.10.4.1)", () => {
    const host = new HostMemory(8 * GiB);
    host.createVm("vm", GiB, { vcpus: 2 });
    host.touch("vm", 1, KERNEL, true, 0);
    host.touch("vm", 2, KERNEL, true, 1);
    expect(host.unmap("vm", 1, KERNEL)).toBe(true);
    for (const [asid, vcpu] of [
      [1, 0],
      [2, 1],
      [2, 0],
    ]) {
      const t = host.translate("vm", asid, KERNEL, vcpu);
      expect(t.tlbHit).toBe(false);
      expect(t.fault).toBe("guest_page_fault");
    }
  });
});

describe("TLBs of hardware threads, shared by the vCPUs scheduled on them", () => {
  it.each(flags)(
    "keeps a VM's entries while another VM time-shares its thread only with VPID (SDM Vol. 3C §28.3.3.1; a: vpid $vpid, pcid $pcid)",
    (a) => {
      for (const b of flags) {
        const host = new HostMemory(8 * GiB);
        host.createVm("a", GiB, { ...a, vcpus: 1, threads: [5] });
        host.createVm("b", GiB, { ...b, vcpus: 1, threads: [5] });
        host.touch("a", 1, USER, true);
        host.translate("a", 1, USER);
        // B runs on the thread and uses the same guest-virtual address for its own page.
        const mine = host.touch("b", 1, USER, true).hpa as number;
        expect(host.ownerOf(mine)).toBe("b");
        const back = host.translate("a", 1, USER);
        expect(back.tlbHit).toBe(keptAcrossVmTransition(a.vpid));
        expect(host.ownerOf(back.hpa as number)).toBe("a");
        const again = host.translate("b", 1, USER);
        expect(again.tlbHit).toBe(keptAcrossVmTransition(b.vpid));
        expect(again.hpa).toBe(mine);
      }
    },
  );

  it.each([true, false])(
    "empties the paging-structure caches at a VM entry only without VPID (SDM Vol. 3C §28.3.3.1; vpid %s)",
    (vpid) => {
      const host = new HostMemory(8 * GiB);
      host.createVm("a", GiB, { vpid, vcpus: 1, threads: [2], pageWalkCache: { guest: 32, nested: 0 } });
      host.createVm("b", GiB, { vcpus: 1, threads: [2] });
      // Two pages under one page table: the second walk starts from the cached directory entry.
      host.touch("a", 1, USER, false);
      host.touch("a", 1, USER + PAGE_4K, false);
      host.touch("b", 1, USER, false);
      // Whatever the TLB kept, A walks again on its return, which shows what the caches kept.
      host.vm("a").tlbs[0].flushAll();
      const t = host.translate("a", 1, USER + PAGE_4K);
      expect(t.pwcStartLevel !== null).toBe(keptAcrossVmTransition(vpid));
    },
  );

  it("gives each thread one TLB, so vCPUs on one thread share entries and vCPUs on two do not", () => {
    const host = new HostMemory(8 * GiB);
    host.createVm("vm", GiB, { vcpus: 3, threads: [0, 0, 1] });
    host.touch("vm", 1, USER, false, 0);
    expect(host.translate("vm", 1, USER, 1).tlbHit).toBe(true);
    expect(host.translate("vm", 1, USER, 2).tlbHit).toBe(false);
    expect(host.vmSummary("vm").threads).toEqual([0, 0, 1]);
  });

  it("gives a VM that reuses a stopped VM's VPID on the same thread none of the stopped VM's entries", () => {
    const host = new HostMemory(8 * GiB);
    host.createVm("a", GiB, { vcpus: 1, threads: [3] });
    host.touch("a", 1, USER, true);
    const vpid = host.vm("a").vpid;
    host.destroyVm("a");
    host.createVm("b", GiB, { vcpus: 1, threads: [3] });
    expect(host.vm("b").vpid).toBe(vpid);
    const t = host.translate("b", 1, USER);
    expect(t.tlbHit).toBe(false);
    expect(t.fault).toBe("guest_page_fault");
  });

  it("finds a translation the first-level TLB evicted in the second-level TLB, without a walk", () => {
    const host = new HostMemory(8 * GiB);
    host.createVm("vm", GiB, { vcpus: 1 });
    // Pages one L1 set-stride apart all fall in one L1 set; one more than its ways evicts the first.
    const l1 = DEFAULT_TLB["4k"];
    const stride = (l1.entries / l1.ways) * PAGE_4K;
    const pages = Array.from({ length: l1.ways + 1 }, (_, i) => 0x10000000 + i * stride);
    for (const p of pages) host.touch("vm", 1, p, false);
    const first = host.translate("vm", 1, pages[0]);
    expect(first.tlbHit).toBe(true);
    expect(first.tlbLevel).toBe(2);
    expect(first.memoryReferences).toBe(0);
    expect(first.hpa).toBe(host.vm("vm").eptLeaf(first.gpa as number)?.hpa);
    // The hit refilled the first level.
    expect(host.translate("vm", 1, pages[0]).tlbLevel).toBe(1);
    expect(host.vmSummary("vm").tlb.secondLevelHits).toBe(1);
  });

  it("never answers from a thread's TLBs with a translation the page tables do not give, whatever runs there", () => {
    const vm = fc.integer({ min: 0, max: 2 });
    const op = fc.oneof(
      fc.record({
        kind: fc.constant("launch" as const),
        vm,
        vpid: fc.boolean(),
        pcid: fc.boolean(),
        mode: fc.constantFrom("ept" as const, "shadow" as const, "direct" as const),
        threads: fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 1, maxLength: 2 }),
      }),
      fc.record({
        kind: fc.constant("access" as const),
        vm,
        asid: fc.integer({ min: 0, max: 2 }),
        page: fc.integer({ min: 0, max: 5 }),
        kernel: fc.boolean(),
        vcpu: fc.nat(),
        write: fc.boolean(),
      }),
      fc.record({
        kind: fc.constant("unmap" as const),
        vm,
        asid: fc.integer({ min: 0, max: 2 }),
        page: fc.nat(5),
        kernel: fc.boolean(),
      }),
      fc.record({
        kind: fc.constant("remap" as const),
        vm,
        asid: fc.integer({ min: 0, max: 2 }),
        page: fc.nat(5),
        kernel: fc.boolean(),
      }),
      fc.record({ kind: fc.constant("stop" as const), vm }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 10, maxLength: 60 }), (ops) => {
        const host = new HostMemory(8 * GiB);
        for (const o of ops) {
          const id = `vm${o.vm}`;
          if (o.kind === "launch") {
            if (!host.hasVm(id))
              host.createVm(id, GiB, {
                // A PV guest (direct paging) has neither tag.
                vpid: o.vpid && o.mode !== "direct",
                pcid: o.pcid && o.mode !== "direct",
                mode: o.mode,
                vcpus: o.threads.length,
                threads: o.threads,
              });
            continue;
          }
          if (!host.hasVm(id)) continue;
          if (o.kind === "stop") {
            host.destroyVm(id);
            continue;
          }
          const gva = o.kernel ? KERNEL + BigInt(o.page * PAGE_4K) : USER + o.page * PAGE_4K;
          const model = host.vm(id);
          const reduced = Number(BigInt(gva) & 0xffffffffffffn);
          if (o.kind === "unmap") host.unmap(id, o.asid, gva);
          else if (o.kind === "remap") {
            const leaf = model.guestLeaf(o.asid, reduced);
            if (leaf) host.remap(id, leaf.gpa);
          } else {
            const vcpu = o.vcpu % model.opts.vcpus;
            if (o.page % 2 === 0) host.touch(id, o.asid, gva, o.write, vcpu);
            const t = host.translate(id, o.asid, gva, vcpu, o.write);
            // What the page tables say now, by the software walks: the TLB may only ever agree.
            const leaf = model.guestLeaf(o.asid, reduced);
            const backing = leaf ? model.eptLeaf(leaf.gpa) : null;
            if (t.fault === null) {
              expect(t.hpa).toBe(backing?.hpa);
              expect(host.ownerOf(t.hpa as number)).toBe(id);
            } else expect(t.tlbHit).toBe(false);
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe("the threads' TLBs in snapshots", () => {
  it("restores which vCPU last ran on each thread and what its TLBs hold, so the restored host behaves identically", () => {
    const access = fc.tuple(
      fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: 1, max: 2 }),
      fc.integer({ min: 0, max: 63 }),
      fc.boolean(),
    );
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
        fc.array(access, { minLength: 5, maxLength: 30 }),
        fc.array(access, { minLength: 5, maxLength: 30 }),
        (vpids, before, after) => {
          const a = new HostMemory(8 * GiB);
          for (let v = 0; v < 3; v++)
            a.createVm(`vm${v}`, GiB, { vpid: vpids[v], pcid: v !== 1, vcpus: 2, threads: [v % 2, 1] });
          const run = (h: HostMemory, [v, asid, page, write]: [number, number, number, boolean]) => {
            const gva = page % 3 === 0 ? KERNEL + BigInt(page * PAGE_4K) : USER + page * PAGE_4K;
            h.touch(`vm${v}`, asid, gva, write, page % 2);
            return h.translate(`vm${v}`, asid, gva, (page + 1) % 2, write);
          };
          for (const x of before) run(a, x);
          const b = HostMemory.restore(structuredClone(a.snapshot()));
          for (const x of after) expect(run(b, x)).toEqual(run(a, x));
          for (let v = 0; v < 3; v++) expect(b.vmSummary(`vm${v}`)).toEqual(a.vmSummary(`vm${v}`));
        },
      ),
      { numRuns: 60 },
    );
  });

  it("restores a version-1 snapshot: its tagged option as vpid and pcid, its TLB counters kept, its entries dropped", () => {
    const host = new HostMemory(8 * GiB);
    host.createVm("vm", GiB, { vpid: false, pcid: false, vcpus: 1 });
    host.touch("vm", 1, USER, true);
    const s = structuredClone(host.snapshot());
    // The layout hosts stored before this version: one first-level TLB per vCPU with its own counters.
    const { vpid: _vpid, pcid: _pcid, threads: _threads, ...options } = s.vms[0].vm.options;
    const legacy = {
      version: 1,
      hostBytes: s.hostBytes,
      frames: s.frames,
      vms: [
        {
          vmId: "vm",
          vm: {
            ...s.vms[0].vm,
            options: {
              ...options,
              tagged: false,
              tlb: { "4k": options.tlb["4k"], "2m": options.tlb["2m"], "1g": options.tlb["1g"] },
            },
            counters: s.vms[0].vm.counters.slice(0, 25),
            tlbs: [
              {
                tag: new Float64Array(100).fill(-1),
                ctx: new Int32Array(100),
                base: new Float64Array(100),
                perm: new Uint8Array(100),
                fifo: new Uint8Array(25),
                counters: Float64Array.of(7, 3, 2, 5),
              },
            ],
          },
        },
      ],
    } as unknown as HostMemorySnapshot;
    const restored = HostMemory.restore(legacy);
    const summary = restored.vmSummary("vm");
    expect(summary.vpid).toBe(false);
    expect(summary.pcid).toBe(false);
    expect(summary.tlb).toMatchObject({ hits: 7, misses: 3, flushes: 2, invalidations: 5 });
    const t = restored.translate("vm", 1, USER);
    expect(t.tlbHit).toBe(false);
    expect(t.hpa).toBe(host.translate("vm", 1, USER).hpa);
  });
});

describe("TLBs stored by version 2", () => {
  it("restore from their live entries alone to the TLBs that were stored", () => {
    const host = new HostMemory(8 * GiB);
    host.createVm("pinned", GiB, { vcpus: 2, threads: [0, 1] });
    host.createVm("own", GiB, { vcpus: 2, pcid: false, guestPageSize: 2 * 1024 * 1024 });
    for (let p = 0; p < 40; p++) {
      host.touch("pinned", 1 + (p % 2), USER + p * PAGE_4K, p % 3 === 0, p % 2);
      host.touch("own", 1, KERNEL + BigInt(p * 4096 * 1024), p % 5 === 0, p % 2);
    }
    // An emptied slot between live ones.
    host.unmap("pinned", 1, USER + 2 * PAGE_4K);
    const s = structuredClone(host.snapshot());
    const v2 = asVersion2(s);
    expect(v2.threadTlbs?.[0].tlb).toHaveProperty("slot");
    expect(v2.vms.find((v) => v.vmId === "own")?.vm.tlbs).toHaveLength(2);
    const restored = HostMemory.restore(v2);
    expect(restored.snapshot()).toEqual(s);
    for (let p = 0; p < 40; p++) {
      expect(restored.translate("pinned", 1 + (p % 2), USER + p * PAGE_4K, p % 2)).toEqual(
        host.translate("pinned", 1 + (p % 2), USER + p * PAGE_4K, p % 2),
      );
    }
  });
});

describe("the deprecated tagged option", () => {
  it("means vpid and pcid together, and may not contradict either", () => {
    expect(resolveOptions({ tagged: false })).toMatchObject({ vpid: false, pcid: false });
    expect(resolveOptions({ tagged: true, pcid: true })).toMatchObject({ vpid: true, pcid: true });
    expect(resolveOptions({ vpid: false })).toMatchObject({ vpid: false, pcid: true });
    expect(() => resolveOptions({ tagged: true, vpid: false })).toThrow(/vpid/);
    expect(() => resolveOptions({ tagged: false, pcid: true })).toThrow(/pcid/);
    expect(resolveOptions({ tagged: false })).not.toHaveProperty("tagged");
  });
});
