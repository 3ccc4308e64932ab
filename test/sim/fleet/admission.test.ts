import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HostCapacity, type HostHardware } from "../../../src/sim/admission";
import { HOST_SHAPES, INSTANCE_TYPES } from "../../../src/sim/catalog";
import { rankHosts } from "../../../src/sim/placement";

const nitro: HostHardware = HOST_SHAPES.m5;
const xen: HostHardware = HOST_SHAPES.m4;

describe("host admission", () => {
  it("never exceeds capacity, never pins two VMs to one thread, and frees what it releases", () => {
    const sizes = INSTANCE_TYPES.filter((t) => t.family === "m5");
    fc.assert(
      fc.property(
        fc.constantFrom(nitro, xen),
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: sizes.length - 1 }), fc.nat()), {
          maxLength: 80,
        }),
        (hw, ops) => {
          const cap = new HostCapacity(hw);
          const live: string[] = [];
          let n = 0;
          for (const [add, size, pick] of ops) {
            if (add || live.length === 0) {
              const t = sizes[size];
              const id = `vm${n++}`;
              if (cap.allocate(id, t.vcpus, t.memoryMiB)) live.push(id);
            } else {
              const [gone] = live.splice(pick % live.length, 1);
              expect(cap.release(gone)).toBeDefined();
            }
            const s = cap.summary();
            expect(s.vcpus.used + s.vcpus.reserved).toBeLessThanOrEqual(s.vcpus.total);
            expect(s.memoryMiB.used + s.memoryMiB.reserved).toBeLessThanOrEqual(s.memoryMiB.total);
            const owners = cap.threadOwners();
            for (const id of live) {
              const threads = cap.get(id)!.threads;
              expect(threads.every((t) => owners[t] === id)).toBe(true);
            }
            expect(owners.filter((o) => o === "hypervisor")).toHaveLength(hw.reservedThreads);
          }
          // A host rebuilt from its allocations (as after an eviction) is the same host.
          const rebuilt = new HostCapacity(hw, cap.list());
          expect(rebuilt.summary()).toEqual(cap.summary());
          expect(rebuilt.threadOwners()).toEqual(cap.threadOwners());
        },
      ),
    );
  });

  it("sells the largest size of a family exactly once per host", () => {
    for (const family of ["c5", "m5", "r5", "m5d", "c4", "m4", "r4"] as const) {
      const largest = INSTANCE_TYPES.filter((t) => t.family === family).at(-1)!;
      const cap = new HostCapacity(HOST_SHAPES[family]);
      expect(
        cap.allocate("a", largest.vcpus, largest.memoryMiB, largest.instanceStorage.totalGB),
      ).not.toBeNull();
      expect(cap.allocate("b", 2, 1024)).toBeNull();
    }
  });

  it("refuses a VM that does not fit without changing anything", () => {
    const cap = new HostCapacity(nitro);
    cap.allocate("a", 64, 256 * 1024);
    const before = cap.summary();
    expect(cap.allocate("b", 64, 1024)).toBeNull();
    expect(cap.summary()).toEqual(before);
  });
});

describe("placement weighers", () => {
  const hosts = [
    {
      id: "h1",
      zone: "a",
      family: "m5",
      state: "available",
      freeVcpus: 90,
      freeMemoryMiB: 300_000,
      freeNvmeGB: 0,
    },
    {
      id: "h2",
      zone: "a",
      family: "m5",
      state: "available",
      freeVcpus: 10,
      freeMemoryMiB: 40_000,
      freeNvmeGB: 0,
    },
    {
      id: "h3",
      zone: "b",
      family: "m5",
      state: "available",
      freeVcpus: 50,
      freeMemoryMiB: 200_000,
      freeNvmeGB: 0,
    },
    {
      id: "h4",
      zone: "a",
      family: "c5",
      state: "available",
      freeVcpus: 96,
      freeMemoryMiB: 190_000,
      freeNvmeGB: 0,
    },
    {
      id: "h5",
      zone: "a",
      family: "m5",
      state: "maintenance",
      freeVcpus: 96,
      freeMemoryMiB: 390_000,
      freeNvmeGB: 0,
    },
  ];
  const req = { family: "m5", vcpus: 8, memoryMiB: 32_768, nvmeGB: 0 };

  it("orders the fullest host first when packing and the emptiest first when spreading", () => {
    expect(rankHosts(hosts, req, "binpack").map((h) => h.id)).toEqual(["h2", "h3", "h1"]);
    expect(rankHosts(hosts, req, "spread").map((h) => h.id)).toEqual(["h1", "h3", "h2"]);
  });

  it("filters out other families, other zones, unavailable hosts and hosts without room", () => {
    expect(rankHosts(hosts, { ...req, zone: "a" }, "binpack").map((h) => h.id)).toEqual(["h2", "h1"]);
    expect(rankHosts(hosts, { ...req, vcpus: 60 }, "binpack").map((h) => h.id)).toEqual(["h1"]);
  });
});
