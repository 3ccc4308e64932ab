// A host's own part of the isolation audit: the checks of isolation.ts over its model's state.
import type { HostModel } from "../host";
import { type CheckResult, HOST_CHECKS, type HostSecurityState } from "./isolation";
import type { MemoryEncryption } from "./memory-encryption";

export function securityState(m: HostModel, enc: MemoryEncryption): HostSecurityState {
  return {
    // Holds count too: their threads are taken until the launch commits or cancels.
    vms: m.list().map((v) => ({
      instanceId: v.instance.instanceId,
      accountId: v.instance.accountId ?? null,
      threads: v.instance.threads,
    })),
    threadsPerCore: m.host.hw.threadsPerCore,
    reservedThreads: m.host.hw.reservedThreads,
    memory: m.memory,
    encryption: enc,
  };
}

/** Runs every host check; the answer names the account of each instance it may mention. */
export function auditHost(
  m: HostModel,
  enc: MemoryEncryption,
): { checks: CheckResult[]; accounts: Array<{ instanceId: string; accountId: string | null }> } {
  const s = securityState(m, enc);
  return {
    checks: HOST_CHECKS.map((check) => check(s)),
    accounts: s.vms.map((v) => ({ instanceId: v.instanceId, accountId: v.accountId })),
  };
}
