// What the guest's pause costs besides the memory still dirty: its vCPU and device state on the wire,
// pausing on the source and resuming on the destination, and telling the network where it went.
// Xen redirects with an unsolicited ARP reply from the destination (Clark et al., NSDI 2005, section
// 4.1), QEMU on a hosted hypervisor with its self-announce (RARP) frames; on Nitro the VPC's mapping service must learn the instance's new host. Neither platform
// publishes these costs; the figures here are named estimates, the same for every guest of a kind.

import type { HostHypervisor } from "../catalog";

export interface SwitchoverCosts {
  /** One vCPU's state: general and control registers, the XSAVE area, MSRs and its local APIC page. */
  vcpuStateBytes: number;
  /** The guest's devices: virtual NIC and disk rings, timers, interrupt controller. */
  deviceStateBytes: number;
  /** Suspending the guest on the source and resuming it on the destination, devices reconnected. */
  pauseResumeMs: number;
  redirect: "unsolicited-arp" | "self-announce" | "vpc-mapping";
  /** Until traffic for the guest reaches the destination. */
  redirectMs: number;
}

/** Estimate: registers and MSRs (~1 KiB), an XSAVE area with AVX-512 (~2.7 KiB), the APIC page (4 KiB). */
export const VCPU_STATE_BYTES = 8 * 1024;
/** Estimate: a few virtual devices' rings and registers. */
export const DEVICE_STATE_BYTES = 64 * 1024;
/**
 * Estimate: a paravirtual guest's suspend (its frontends disconnect) and resume (they reconnect through
 * xenstore) on Xen; Nitro's hardware-assisted guest has no frontends to reconnect.
 */
export const PAUSE_RESUME_MS: Record<HostHypervisor, number> = { xen: 50, nitro: 10, type2: 10 };
/** An unsolicited ARP reply (or a RARP announce) is one frame; switches learn from it at once. */
export const ARP_REDIRECT_MS = 0.001;
/** Estimate: the VPC mapping service learning the instance's new host. */
export const VPC_MAPPING_UPDATE_MS = 20;

export function switchoverCosts(hypervisor: HostHypervisor): SwitchoverCosts {
  return {
    vcpuStateBytes: VCPU_STATE_BYTES,
    deviceStateBytes: DEVICE_STATE_BYTES,
    pauseResumeMs: PAUSE_RESUME_MS[hypervisor],
    redirect:
      hypervisor === "xen" ? "unsolicited-arp" : hypervisor === "type2" ? "self-announce" : "vpc-mapping",
    redirectMs: hypervisor === "nitro" ? VPC_MAPPING_UPDATE_MS : ARP_REDIRECT_MS,
  };
}
