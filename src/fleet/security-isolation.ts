// The isolation audit of one host: its object's checks over its model (memory, CPU, encryption),
// the boot verdict against the allow-list, the network check over D1's interfaces and VPCs, and the
// storage check over D1's volume attachments. A check with nothing to feed it would be reported as
// unavailable, not passed. A tenant sees other accounts' instances, volumes and account ids unnamed.
import type { CheckResult } from "../sim/security/isolation";
import { CHECK_NAMES, type CheckName, result } from "../sim/security/isolation";
import type { Fleet } from "./context";
import { requireHostRow } from "./hosts";
import { mirrorApplied } from "./mirror";
import { sees } from "./ownership";
import { judgeHost } from "./security-boot";
import { auditNetwork } from "./security-network";
import { auditStorage } from "./security-storage";

/** How a tenant's audit names an instance of another account. */
export const ANOTHER_ACCOUNT = "another-account";

export async function hostIsolation(fleet: Fleet, hostId: string) {
  await requireHostRow(fleet, hostId);
  const res = await fleet.host(hostId).isolation(await fleet.clock());
  await mirrorApplied(fleet.db, res.events);
  const { checks, accounts } = res.result;
  const boot = (await judgeHost(fleet, hostId)).check;
  const network = await auditNetwork(fleet, accounts);
  const storage = await auditStorage(fleet, accounts);
  const byName = new Map<CheckName, CheckResult>([
    [boot.check, boot],
    [network.check, network],
    [storage.result.check, storage.result],
    ...checks.map((c) => [c.check, c] as const),
  ]);
  const owner = new Map(accounts.map((a) => [a.instanceId, a.accountId]));
  const name = (id: string) => (sees(fleet.caller, owner.get(id) ?? null) ? id : ANOTHER_ACCOUNT);
  // Account ids and volume ids a finding may carry, each with the account it would give away.
  const hidden = new Map<string, string | null>([
    ...accounts.map((a) => [a.accountId ?? "", a.accountId] as const),
    ...storage.volumeAccounts,
  ]);
  hidden.delete("");
  const unnamed = (v: string | null) => {
    if (v === null) return null;
    if (owner.has(v)) return name(v);
    return hidden.has(v) && !sees(fleet.caller, hidden.get(v)) ? ANOTHER_ACCOUNT : v;
  };
  const all = CHECK_NAMES.map((n) => byName.get(n) ?? result(n, {}, [], "unavailable")).map((c) => ({
    ...c,
    findings: c.findings.map((f) => ({
      ...f,
      instanceIds: f.instanceIds.map(name),
      detail: [...f.instanceIds, f.resource, f.expected, f.found].reduce<string>(
        (d, id) => (id === null || unnamed(id) === id ? d : d.replaceAll(id, ANOTHER_ACCOUNT)),
        f.detail,
      ),
      resource: unnamed(f.resource),
      expected: unnamed(f.expected),
      found: unnamed(f.found),
    })),
  }));
  return {
    hostId,
    isolated: all.every((c) => c.status !== "fail"),
    checks: all,
  };
}
