import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HostMemory, PAGE_1G, PAGE_2M, PAGE_4K, type PageSize } from "../../../src/sim/memory/index";

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/**
 * A deliberately naive reference written apart from the model: string-keyed maps, one
 * entry per 4 KiB page. The guest's and the hypervisor's choices (which GPA, which HPA)
 * are learned from touch results; after that every access must agree with the maps.
 */
class Reference {
  gvaToGpa = new Map<string, number>();
  gpaToHpa = new Map<string, number>();
  learn(vm: string, asid: number, gva: number, gpa: number, hpa: number): void {
    this.gvaToGpa.set(`${vm}:${asid}:${Math.floor(gva / PAGE_4K)}`, Math.floor(gpa / PAGE_4K));
    this.gpaToHpa.set(`${vm}:${Math.floor(gpa / PAGE_4K)}`, Math.floor(hpa / PAGE_4K));
  }
  expected(vm: string, asid: number, gva: number): number | undefined {
    const gfn = this.gvaToGpa.get(`${vm}:${asid}:${Math.floor(gva / PAGE_4K)}`);
    if (gfn === undefined) return undefined;
    const hfn = this.gpaToHpa.get(`${vm}:${gfn}`);
    return hfn === undefined ? undefined : hfn * PAGE_4K + (gva % PAGE_4K);
  }
  remapped(vm: string, gpa: number, size: number, newHpa: number): void {
    for (let g = gpa / PAGE_4K; g < (gpa + size) / PAGE_4K; g++) {
      const key = `${vm}:${g}`;
      if (this.gpaToHpa.has(key)) this.gpaToHpa.set(key, newHpa / PAGE_4K + (g - gpa / PAGE_4K));
    }
  }
  unmapped(vm: string, asid: number, gva: number, size: number): void {
    const lo = Math.floor(gva / size) * size;
    for (const key of [...this.gvaToGpa.keys()]) {
      const [v, a, vpn] = key.split(":");
      const addr = Number(vpn) * PAGE_4K;
      if (v === vm && Number(a) === asid && addr >= lo && addr < lo + size) this.gvaToGpa.delete(key);
    }
  }
  dropVm(vm: string): void {
    for (const m of [this.gvaToGpa, this.gpaToHpa])
      for (const k of [...m.keys()]) if (k.startsWith(`${vm}:`)) m.delete(k);
  }
}

/** Every block each VM holds; no two may overlap, and the allocator must agree on owners. */
function checkIsolation(host: HostMemory): void {
  const spans: Array<[lo: number, hi: number, vm: string]> = [];
  for (const id of host.vmIds()) {
    for (const b of host.vm(id).hostBlocks()) {
      spans.push([b.frame, b.frame + 2 ** b.order, id]);
      expect(host.ownerOf(b.frame * PAGE_4K)).toBe(id);
    }
  }
  spans.sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
  const held = spans.reduce((n, s) => n + s[1] - s[0], 0);
  expect(host.hostSummary().usedFrames).toBe(held);
}

const sizes: PageSize[] = [PAGE_4K, PAGE_2M, PAGE_1G];
const op = fc.oneof(
  fc.record({
    kind: fc.constant("launch" as const),
    vm: fc.integer({ min: 0, max: 3 }),
    gib: fc.integer({ min: 1, max: 2 }),
    // 1 GiB guest pages on 4 KiB EPT back 262,144 frames per touch: correct but slow here.
    guest: fc.constantFrom(PAGE_4K, PAGE_2M),
    ept: fc.constantFrom(...sizes),
    shadow: fc.boolean(),
    tagged: fc.boolean(),
    levels: fc.constantFrom(4 as const, 5 as const),
  }),
  fc.record({
    kind: fc.constant("touch" as const),
    vm: fc.integer({ min: 0, max: 3 }),
    asid: fc.integer({ min: 0, max: 2 }),
    page: fc.integer({ min: 0, max: 63 }),
    region: fc.integer({ min: 0, max: 3 }),
    write: fc.boolean(),
    vcpu: fc.integer({ min: 0, max: 1 }),
  }),
  fc.record({ kind: fc.constant("remap" as const), vm: fc.integer({ min: 0, max: 3 }), pick: fc.nat() }),
  fc.record({ kind: fc.constant("unmap" as const), vm: fc.integer({ min: 0, max: 3 }), pick: fc.nat() }),
  fc.record({ kind: fc.constant("stop" as const), vm: fc.integer({ min: 0, max: 3 }) }),
);

describe("a host's memory under random launch, touch, remap, unmap and stop sequences", () => {
  it("keeps VMs isolated, agrees with the reference model and reuses freed frames", () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 20, maxLength: 80, size: "max" }), (ops) => {
        const host = new HostMemory(6 * GiB);
        const ref = new Reference();
        const touched = new Map<string, Array<[asid: number, gva: number]>>();
        for (const o of ops) {
          const id = `vm${o.vm}`;
          const live = host.hasVm(id);
          if (o.kind === "launch") {
            if (live) continue;
            host.createVm(id, o.gib * GiB, {
              guestPageSize: o.guest,
              eptPageSize: o.ept,
              mode: o.shadow ? "shadow" : "ept",
              tagged: o.tagged,
              guestLevels: o.levels,
              eptLevels: o.levels,
            });
            touched.set(id, []);
          } else if (!live) {
            continue;
          } else if (o.kind === "touch") {
            // Regions far apart in the address space, pages close together within them.
            const gva =
              [0x400000, 0x10000000, 0x7f0000000000, 0x7ffff7e00000][o.region] + o.page * 5 * PAGE_4K + 24;
            const before = ref.expected(id, o.asid, gva);
            const r = host.touch(id, o.asid, gva, o.write, o.vcpu);
            expect(r.hpa).not.toBeNull();
            expect(host.ownerOf(r.hpa as number)).toBe(id);
            if (before !== undefined) expect(r.hpa).toBe(before);
            ref.learn(id, o.asid, gva, r.gpa as number, r.hpa as number);
            touched.get(id)?.push([o.asid, gva]);
            const t = host.translate(id, o.asid, gva, o.vcpu, o.write);
            if (t.fault === null) expect(t.hpa).toBe(r.hpa);
          } else if (o.kind === "remap") {
            const list = touched.get(id) ?? [];
            if (list.length === 0) continue;
            const [asid, gva] = list[o.pick % list.length];
            const leaf = host.vm(id).guestLeaf(asid, gva);
            if (leaf === null) continue;
            const moved = host.remap(id, leaf.gpa);
            if (moved) ref.remapped(id, moved.gpa, moved.size, moved.newHpa);
          } else if (o.kind === "unmap") {
            const list = touched.get(id) ?? [];
            if (list.length === 0) continue;
            const [asid, gva] = list[o.pick % list.length];
            const leaf = host.vm(id).guestLeaf(asid, gva);
            if (leaf === null) continue;
            expect(host.unmap(id, asid, gva)).toBe(true);
            ref.unmapped(id, asid, gva, leaf.size);
            expect(host.translate(id, asid, gva).fault).not.toBeNull();
          } else {
            host.destroyVm(id);
            ref.dropVm(id);
            touched.delete(id);
          }
          checkIsolation(host);
        }
        // Every earlier translation still holds (remaps and unmaps applied to the reference).
        for (const [id, list] of touched) {
          for (const [asid, gva] of list) {
            const want = ref.expected(id, asid, gva);
            if (want !== undefined) expect(host.touch(id, asid, gva, false).hpa).toBe(want);
          }
        }
        for (const id of host.vmIds()) host.destroyVm(id);
        const s = host.hostSummary();
        expect(s.freeFrames).toBe(s.totalFrames);
        // Freed frames are reusable: a VM as large as most of the host can be fully backed.
        host.createVm("big", 5 * GiB, { eptPageSize: PAGE_1G });
        for (let g = 0; g < 5 * GiB; g += PAGE_1G) expect(host.touchPhysical("big", g).hpa).not.toBeNull();
        expect(host.vmSummary("big").hugePageShare).toBe(1);
      }),
      { numRuns: 80 },
    );
  }, 120_000);

  it("restores from a snapshot into a host that behaves identically afterwards", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 4095 }), fc.boolean()), {
          minLength: 20,
          maxLength: 40,
          size: "max",
        }),
        (touches) => {
          const a = new HostMemory(4 * GiB);
          a.createVm("x", GiB, { guestPageSize: PAGE_2M, vcpus: 1 });
          a.createVm("y", GiB, { mode: "shadow", eptPageSize: PAGE_4K, vcpus: 1 });
          for (const [asid, page, w] of touches.slice(0, 20))
            a.touch(page % 2 ? "x" : "y", asid, page * 3 * PAGE_4K, w);
          const b = HostMemory.restore(structuredClone(a.snapshot()));
          for (const [asid, page, w] of touches.slice(20)) {
            const id = page % 2 ? "x" : "y";
            expect(b.touch(id, asid, page * 5 * PAGE_4K, w)).toEqual(
              a.touch(id, asid, page * 5 * PAGE_4K, w),
            );
          }
          expect(b.vmSummary("x")).toEqual(a.vmSummary("x"));
          expect(b.vmSummary("y")).toEqual(a.vmSummary("y"));
          expect(b.hostSummary()).toEqual(a.hostSummary());
        },
      ),
      { numRuns: 60 },
    );
  });

  it("keeps only touched pages: a 16 GiB guest that touched 8 MiB costs well under 1 MiB of tables", () => {
    const host = new HostMemory(32 * GiB);
    host.createVm("vm", 16 * GiB, { eptPageSize: PAGE_4K });
    for (let a = 0; a < 8 * MiB; a += PAGE_4K) host.touch("vm", 1, 0x10000000 + a, true);
    const s = host.vmSummary("vm");
    expect(s.backedBytes).toBeLessThan(9 * MiB);
    expect(s.pageTableBytes.guest + s.pageTableBytes.ept).toBeLessThan(MiB);
  });
});
