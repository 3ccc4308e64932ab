// The isolation audit of one host: its object's checks over its model (memory, CPU, encryption),
// the boot verdict against the allow-list, the network check over D1's interfaces and VPCs, and
// the checks of kinds this fleet does not model yet (storage), reported as unavailable, not passed. A tenant sees other accounts' instances unnamed.
import type { CheckResult } from "../sim/security/isolation";
import { CHECK_NAMES, type CheckName, result } from "../sim/security/isolation";
import type { Fleet } from "./context";
import { requireHostRow } from "./hosts";
import { mirrorApplied } from "./mirror";
import { sees } from "./ownership";
import { judgeHost } from "./security-boot";
import { auditNetwork } from "./security-network";

/** How a tenant's audit names an instance of another account. */
export const ANOTHER_ACCOUNT = "another-account";

export async function hostIsolation(fleet: Fleet, hostId: string) {
  await requireHostRow(fleet, hostId);
  const res = await fleet.host(hostId).isolation(await fleet.clock());
  await mirrorApplied(fleet.db, res.events);
  const { checks, accounts } = res.result;
  const boot = (await judgeHost(fleet, hostId)).check;
  const network = await auditNetwork(fleet, accounts);
  const byName = new Map<CheckName, CheckResult>([
    [boot.check, boot],
    [network.check, network],
    ...checks.map((c) => [c.check, c] as const),
  ]);
  const owner = new Map(accounts.map((a) => [a.instanceId, a.accountId]));
  const name = (id: string) => (sees(fleet.caller, owner.get(id) ?? null) ? id : ANOTHER_ACCOUNT);
  const all = CHECK_NAMES.map((n) => byName.get(n) ?? result(n, {}, [], "unavailable")).map((c) => ({
    ...c,
    findings: c.findings.map((f) => ({
      ...f,
      instanceIds: f.instanceIds.map(name),
      detail: f.instanceIds.reduce(
        (d, id) => (name(id) === id ? d : d.replaceAll(id, ANOTHER_ACCOUNT)),
        f.detail,
      ),
      expected: f.expected !== null && owner.has(f.expected) ? name(f.expected) : f.expected,
      found: f.found !== null && owner.has(f.found) ? name(f.found) : f.found,
    })),
  }));
  return {
    hostId,
    isolated: all.every((c) => c.status !== "fail"),
    checks: all,
  };
}
