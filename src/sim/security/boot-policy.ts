// The verdict on a host's measured boot: every code stage's digest must be on the allow-list, the
// configuration must be the one the fleet provisioned, and the chain must follow from its digests.
// A host that fails is quarantined: placement never offers it an instance.
import { type CheckResult, type Finding, finding, result } from "./isolation";
import type { BootRecord, BootStage } from "./measured-boot";

export interface AllowedMeasurement {
  stage: BootStage;
  digest: string;
}

export function judgeBoot(
  record: BootRecord | null,
  chainOk: boolean,
  allowList: readonly AllowedMeasurement[],
  expectedConfigDigest: string | null,
): CheckResult {
  if (!record) return result("boot", { stages: 0 }, [finding("unmeasured", "the host has no boot record")]);
  const found: Finding[] = [];
  if (!chainOk)
    found.push(
      finding("chain-broken", "the chain does not follow from the stage digests", { found: record.pcr }),
    );
  const allowed = new Set(allowList.map((a) => `${a.stage}:${a.digest}`));
  for (const m of record.measurements) {
    if (m.stage === "config") {
      if (expectedConfigDigest !== null && m.digest !== expectedConfigDigest)
        found.push(
          finding("config-mismatch", "the configuration measured is not the one the fleet provisioned", {
            resource: m.stage,
            expected: expectedConfigDigest,
            found: m.digest,
          }),
        );
      continue;
    }
    if (!allowed.has(`${m.stage}:${m.digest}`))
      found.push(
        finding(
          "unknown-measurement",
          `${m.stage} (${m.name} ${m.version}) measured a digest not on the allow-list`,
          {
            resource: m.stage,
            found: m.digest,
          },
        ),
      );
  }
  return result("boot", { stages: record.measurements.length, allowListEntries: allowList.length }, found);
}
