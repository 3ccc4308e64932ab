// The seed's optimization switches (large pages, affinity, SR-IOV, ballooning, PV drivers) change the model's
// results, and the recommendation comes from trying them.
import { describe, expect, it } from "vitest";
import {
  HostCpu,
  type HostDescription,
  type Optimizations,
  recommendOptimizations,
  type WorkloadSpec,
} from "../../../src/sim/cpu";
import { C5_2XL } from "./fixtures";

function run(
  kind: HostDescription["kind"],
  profile: WorkloadSpec,
  optimizations: Partial<Optimizations>,
  extra: Partial<HostDescription> = {},
) {
  const host = new HostCpu({
    kind,
    sockets: 1,
    coresPerSocket: 8,
    threadsPerCore: 2,
    optimizations,
    ...extra,
  });
  host.addVm("vm", C5_2XL, profile, 42);
  host.advance(30_000);
  return host.vmCounters("vm");
}

describe("optimization switches change the results", () => {
  it("cuts EPT violations and two-dimensional walk cycles with large pages", () => {
    const small = run("nitro", "memory_intensive", { largePages: false });
    const large = run("nitro", "memory_intensive", { largePages: true });
    expect(large.vmExits.ept_violation).toBeLessThan(small.vmExits.ept_violation / 100);
    expect(large.cycles.translation).toBeLessThan(small.cycles.translation / 2);
  });

  it("takes a Xen guest's packets off dom0 with an SR-IOV function", () => {
    const split = run("xen", "io_intensive", { sriov: false });
    const vf = run("xen", "io_intensive", { sriov: true });
    expect(vf.io.networkPath).toBe("sriov_vf");
    expect(vf.io.packetsInHardware).toBe(vf.io.packets);
    expect(vf.cycles.dom0).toBeLessThan(split.cycles.dom0 / 3);
    expect(vf.overheadPct).toBeLessThan(split.overheadPct);
  });

  it("sends a Nitro guest's packets through a host backend when SR-IOV is off", () => {
    const ena = run("nitro", "io_intensive", { sriov: true });
    const virtio = run("nitro", "io_intensive", { sriov: false });
    expect(ena.cycles.backend).toBe(0);
    expect(virtio.cycles.backend).toBeGreaterThan(0);
    expect(virtio.vmExits.io_instruction).toBeGreaterThan(0);
  });

  it("turns an HVM guest's I/O into device-register exits without paravirtual drivers", () => {
    const pv = run("xen", "io_intensive", { pvDrivers: true }, { xenGuestMode: "hvm" });
    const emulated = run("xen", "io_intensive", { pvDrivers: false }, { xenGuestMode: "hvm" });
    expect(emulated.io.networkPath).toBe("emulated");
    expect(emulated.vmExits.io_instruction).toBeGreaterThan(emulated.io.packets);
    expect(pv.vmExits.io_instruction).toBe(0);
    expect(pv.vmExits.vmcall).toBeGreaterThan(0);
    expect(emulated.overheadPct).toBeGreaterThan(pv.overheadPct);
  });

  it("stops vCPU migrations with CPU affinity", () => {
    const floating = run("nitro", "bursty", { cpuAffinity: false });
    const pinned = run("nitro", "bursty", { cpuAffinity: true });
    expect(floating.vcpuMigrations).toBeGreaterThan(0);
    expect(pinned.vcpuMigrations).toBe(0);
  });

  it("replaces host swap faults with a few balloon requests when memory is overcommitted", () => {
    // 16 GiB of guest on 12 GiB of host: a quarter of the guest cannot be backed.
    const extra = { memoryMiB: 12288 };
    const swapped = run("nitro", "memory_intensive", { ballooning: false }, extra);
    const ballooned = run("nitro", "memory_intensive", { ballooning: true }, extra);
    expect(swapped.memory.swapFaults).toBeGreaterThan(0);
    expect(ballooned.memory.swapFaults).toBe(0);
    expect(ballooned.memory.balloonedPages).toBe(1024 * 1024);
    expect(ballooned.cycles.hypervisor).toBeLessThan(swapped.cycles.hypervisor);
  });

  it("recommends SR-IOV for an I/O-bound guest on Xen and large pages for a memory-bound one on Nitro", () => {
    const io = recommendOptimizations("xen", "io_intensive");
    expect(io.optimizations.sriov).toBe(true);
    expect(io.effects.sriov.onPct).toBeLessThan(io.effects.sriov.offPct);
    const mem = recommendOptimizations("nitro", "memory_intensive");
    expect(mem.optimizations.largePages).toBe(true);
    // Nothing to gain from ballooning without memory pressure, so it is not recommended.
    expect(mem.optimizations.ballooning).toBe(false);
    const pressed = recommendOptimizations("nitro", "memory_intensive", { memoryOvercommit: 1.5 });
    expect(pressed.optimizations.ballooning).toBe(true);
  });
});
