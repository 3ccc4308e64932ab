// What must emerge from the CPU model: Nitro under 2% outside the guests (the seed's figure), Xen far
// above it with dom0 and hypercalls as the cause; PV vs HVM memory costs (Bhargava et al. for walks).
import { describe, expect, it } from "vitest";
import { HostCpu, type HypervisorKind } from "../../../src/sim/cpu";
import { C5_2XL, host96 } from "./fixtures";

// Four CPU-bound and four I/O-bound c5.2xlarge guests, two minutes of simulated time; on Xen, the
// paravirtual guests of the classic design, all I/O through dom0.
function mixedHost(kind: HypervisorKind): HostCpu {
  const host = new HostCpu(host96(kind, kind === "xen" ? { xenGuestMode: "pv" } : {}));
  for (let i = 0; i < 4; i++) {
    host.addVm(`cpu-${i}`, C5_2XL, "cpu_intensive", 100 + i);
    host.addVm(`io-${i}`, C5_2XL, "io_intensive", 200 + i);
  }
  host.advance(120_000);
  return host;
}

describe("where a host's CPU goes", () => {
  it("spends under 2% of a Nitro host's CPU outside the guests when they are CPU-bound and I/O-bound", () => {
    const nitro = mixedHost("nitro").hostSummary();
    expect(nitro.cycles.guest).toBeGreaterThan(0);
    expect(nitro.hypervisorOverheadPct).toBeLessThan(2);
    expect(nitro.hypervisorOverheadPct).toBeGreaterThan(0);
    // The cards carried every packet and I/O; no host core touched them.
    expect(nitro.offload.hardwareSharePct).toBe(100);
    expect(nitro.offload.hostIoCycles).toBe(0);
    expect(nitro.cycles.dom0 + nitro.cycles.backend).toBe(0);
  });

  it("spends far more of a Xen host's CPU on the same guests, mostly in dom0 moving their I/O", () => {
    const nitro = mixedHost("nitro");
    const xen = mixedHost("xen");
    const xs = xen.hostSummary();
    expect(xs.hypervisorOverheadPct).toBeGreaterThan(5 * nitro.hostSummary().hypervisorOverheadPct);
    expect(xs.hypervisorOverheadPct).toBeGreaterThan(10);
    // Why: dom0 did the I/O the Nitro cards did, and it outweighs Xen's own entries.
    expect(xs.offload.network.viaDom0).toBe(xs.offload.network.total);
    expect(xs.cycles.dom0).toBeGreaterThan(xs.cycles.hypervisor);

    const xio = xen.vmCounters("io-0");
    const nio = nitro.vmCounters("io-0");
    expect(xio.overheadPct).toBeGreaterThan(20);
    expect(nio.overheadPct).toBeLessThan(5);
    expect(xio.cycles.dom0).toBeGreaterThan(xio.cycles.guest / 2);
    expect(nio.cycles.dom0).toBe(0);
    // Each ring notification and each halt is a hypercall; each 64-bit PV system call bounces through Xen.
    expect(xio.hypercalls.event_channel_op).toBeGreaterThan(1000);
    expect(xio.hypercalls.sched_op).toBeGreaterThan(1000);
    expect(xio.pvTraps.syscall).toBeGreaterThan(xio.hypercalls.event_channel_op);
    expect(xio.totalExits).toBe(0);
    // On Nitro the same guest exits, but for halts and timers, never to move a packet.
    expect(nio.vmExits.hlt).toBeGreaterThan(0);
    expect(nio.vmExits.io_instruction).toBe(0);
    expect(nio.io.packetsInHardware).toBe(nio.io.packets);
  });

  it("keeps CPU-bound guests near native on both kinds, because computation needs no hypervisor", () => {
    const nitro = mixedHost("nitro").vmCounters("cpu-0");
    const xen = mixedHost("xen").vmCounters("cpu-0");
    expect(nitro.overheadPct).toBeLessThan(0.5);
    expect(xen.overheadPct).toBeLessThan(2);
  });

  it("charges a memory-bound HVM guest for two-dimensional walks, which a PV guest with direct paging avoids", () => {
    const make = (kind: HypervisorKind) => {
      const host = new HostCpu(host96(kind, kind === "xen" ? { xenGuestMode: "pv" } : {}));
      host.addVm("m", C5_2XL, "memory_intensive", 7);
      host.advance(30_000);
      return host.vmCounters("m");
    };
    const hvm = make("nitro");
    const pv = make("xen");
    expect(hvm.cycles.translation).toBeGreaterThan(0);
    expect(pv.cycles.translation).toBe(0);
    // The price of direct paging: every batch of page-table writes is validated by Xen.
    expect(pv.hypercalls.mmu_update).toBeGreaterThan(0);
    expect(hvm.hypercalls.mmu_update).toBe(0);
    expect(hvm.vmExits.ept_violation).toBeGreaterThan(0);
  });

  it("puts a Type 2 host between the two: no dom0, but a host OS and user-space device models on host cores", () => {
    const nitro = mixedHost("nitro").hostSummary();
    const xen = mixedHost("xen").hostSummary();
    const t2 = mixedHost("type2").hostSummary();
    expect(t2.cycles.hostOs).toBeGreaterThan(0);
    expect(t2.cycles.backend).toBeGreaterThan(0);
    expect(t2.cycles.dom0).toBe(0);
    expect(t2.offload.network.onHostCpu).toBe(t2.offload.network.total);
    expect(t2.hypervisorOverheadPct).toBeGreaterThan(nitro.hypervisorOverheadPct * 5);
    expect(xen.hypervisorOverheadPct).toBeGreaterThan(nitro.hypervisorOverheadPct * 5);
  });

  it("lets a saturated dom0 cap the I/O its guests get, where Nitro cards keep up", () => {
    const nitro = mixedHost("nitro").vmCounters("io-1");
    const xen = mixedHost("xen").vmCounters("io-1");
    expect(xen.io.packets).toBeLessThan(nitro.io.packets * 0.95);
  });
});
