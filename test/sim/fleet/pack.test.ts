import { describe, expect, it } from "vitest";
import { pack, unpack } from "../../../src/host/pack";
import { HostMemory } from "../../../src/sim/memory";

describe("snapshot packing", () => {
  it("round-trips typed arrays of every size, splitting large ones into bounded blobs", () => {
    const big = new Float64Array(300_000).map((_, i) => i * 0.5);
    const value = {
      a: new Int32Array([1, -2, 3]),
      nested: { big, empty: new Uint8Array(0) },
      list: [1, "x"],
    };
    const packed = pack(value);
    expect(packed.blobs.every((b) => b.byteLength <= 1024 * 1024)).toBe(true);
    expect(packed.blobs.length).toBeGreaterThan(2);
    const back = unpack<typeof value>(packed);
    expect(back.a).toEqual(value.a);
    expect(back.nested.big).toEqual(big);
    expect(back.nested.empty).toBeInstanceOf(Uint8Array);
    expect(back.list).toEqual(value.list);
  });

  it("restores a host's memory model that translates exactly as before", () => {
    const mem = new HostMemory(64 * 1024 * 1024 * 1024);
    mem.createVm("vm", 8 * 1024 * 1024 * 1024, { vcpus: 2 });
    for (let i = 0; i < 500; i++) mem.touch("vm", 1, 0x4000_0000 + i * 4096 * 7, i % 2 === 0);
    const restored = HostMemory.restore(unpack(pack(mem.snapshot())));
    for (let i = 0; i < 500; i += 37) {
      const gva = 0x4000_0000 + i * 4096 * 7;
      expect(restored.translate("vm", 1, gva).hpa).toBe(mem.translate("vm", 1, gva).hpa);
    }
    expect(restored.hostSummary()).toEqual(mem.hostSummary());
  });
});
