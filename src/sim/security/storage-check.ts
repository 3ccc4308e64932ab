// Storage isolation: no volume attached to an instance of the host belongs to another account.
// (EBS attaches a volume only to an instance of its own account, in its own zone.)
import { type CheckResult, type Finding, finding, result } from "./isolation";

export interface StorageState {
  instances: ReadonlyArray<{ instanceId: string; accountId: string | null }>;
  /** The attachments of those instances, with each volume's account. */
  attachments: ReadonlyArray<{ volumeId: string; instanceId: string; volumeAccountId: string }>;
}

export function checkStorage(s: StorageState): CheckResult {
  const found: Finding[] = [];
  const owner = new Map(s.instances.map((i) => [i.instanceId, i.accountId]));
  for (const a of s.attachments) {
    const account = owner.get(a.instanceId) ?? null;
    if (account === a.volumeAccountId) continue;
    found.push(
      finding(
        "cross-account-attachment",
        `${a.volumeId} is attached to ${a.instanceId}, of another account`,
        {
          instanceIds: [a.instanceId],
          resource: a.volumeId,
          expected: account ?? "(no account)",
          found: a.volumeAccountId,
        },
      ),
    );
  }
  return result("storage", { attachments: s.attachments.length }, found);
}
