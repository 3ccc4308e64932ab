// Measured boot across the fleet: the allow-list (D1), each host's verdict, quarantine. A host's
// object measures its own boot; the fleet judges the record against the allow-list and the
// configuration it provisioned, records the verdict in D1 (which placement reads) and tells the
// host, which then refuses new instances itself as well.
import { asc, eq, gt } from "drizzle-orm";
import { bootAllowList, hostAttestations, hosts } from "../db/schema";
import { hostOptimizations } from "../sim/host";
import type { HostRecord } from "../sim/records";
import { type AllowedMeasurement, judgeBoot } from "../sim/security/boot-policy";
import type { CheckResult } from "../sim/security/isolation";
import {
  type BootRecord,
  type BootStage,
  bootStages,
  chainHolds,
  configImage,
  sha384,
} from "../sim/security/measured-boot";
import type { Fleet } from "./context";
import { invalidParameter } from "./errors";
import { requireHostRow } from "./hosts";
import { ALLOW_LIST_MAX } from "./limits";
import { mirrorApplied } from "./mirror";

export type BootStatus = "trusted" | "quarantined";

export interface BootReport {
  hostId: string;
  status: BootStatus;
  pcr: string;
  measuredAt: string;
  measurements: BootRecord["measurements"];
  check: CheckResult;
}

export async function readAllowList(fleet: Fleet) {
  const rows = await fleet.db
    .select()
    .from(bootAllowList)
    .orderBy(asc(bootAllowList.stage), asc(bootAllowList.digest));
  return rows.map((r) => ({
    stage: r.stage as BootStage,
    digest: r.digest,
    description: r.description,
    addedAt: new Date(r.addedAt).toISOString(),
  }));
}

const expectedConfig = (host: HostRecord) =>
  sha384(configImage(host.hypervisor, hostOptimizations(host)).bytes);

/** Judges a host's boot against the allow-list without recording anything. */
export async function judgeHost(fleet: Fleet, hostId: string, allowList?: AllowedMeasurement[]) {
  const res = await fleet.host(hostId).boot(await fleet.clock());
  await mirrorApplied(fleet.db, res.events);
  const { host, record } = res.result;
  const list = allowList ?? (await readAllowList(fleet));
  const expected = await expectedConfig(host);
  const check = judgeBoot(record, await chainHolds(record), list, expected);
  return { host, record, check, expected };
}

/**
 * Attests a host: judges its boot, records the verdict in D1 and gives it to the host. A host
 * whose boot fails is quarantined; one that passes again (its digest allowed) is trusted again.
 */
export async function attestHost(
  fleet: Fleet,
  hostId: string,
  allowList?: AllowedMeasurement[],
): Promise<BootReport> {
  const { record, check, expected } = await judgeHost(fleet, hostId, allowList);
  const status: BootStatus = check.status === "pass" ? "trusted" : "quarantined";
  const row = {
    hostId,
    status,
    pcr: record.pcr,
    expectedConfig: expected,
    findings: JSON.stringify(check.findings),
    attestedAt: Date.now(),
  };
  // D1 first: placement reads it, so a failing host is out of placement before anything else.
  await fleet.db
    .insert(hostAttestations)
    .values(row)
    .onConflictDoUpdate({ target: hostAttestations.hostId, set: row });
  await fleet.host(hostId).setQuarantined(status === "quarantined");
  return report(hostId, status, record, check);
}

function report(hostId: string, status: BootStatus, record: BootRecord, check: CheckResult): BootReport {
  return {
    hostId,
    status,
    pcr: record.pcr,
    measuredAt: new Date(record.measuredAt).toISOString(),
    measurements: record.measurements,
    check,
  };
}

/** A host's boot as measured and judged now, and the verdict the fleet holds. */
export async function hostBoot(fleet: Fleet, hostId: string): Promise<BootReport> {
  await requireHostRow(fleet, hostId);
  const { record, check } = await judgeHost(fleet, hostId);
  const row = await fleet.db.select().from(hostAttestations).where(eq(hostAttestations.hostId, hostId)).get();
  // The recorded verdict rules placement; a host never attested (made before measured boot) is trusted.
  const status = (row?.status as BootStatus | undefined) ?? "trusted";
  return report(hostId, status, record, check);
}

export async function reattestHost(fleet: Fleet, hostId: string): Promise<BootReport> {
  await requireHostRow(fleet, hostId);
  return attestHost(fleet, hostId);
}

/** Changes one boot stage's image on a host (a demonstration of quarantine) and attests it again. */
export async function tamperHost(fleet: Fleet, hostId: string, stage: BootStage): Promise<BootReport> {
  const row = await requireHostRow(fleet, hostId);
  const stages = bootStages(row.hypervisor as HostRecord["hypervisor"]);
  if (!stages.includes(stage))
    throw invalidParameter("body.stage", `a ${row.hypervisor} host boots ${stages.join(", ")}`);
  const res = await fleet.host(hostId).tamper(stage, await fleet.clock());
  await mirrorApplied(fleet.db, res.events);
  return attestHost(fleet, hostId);
}

/** Quarantined hosts an answer names; the rest are counted. */
export const QUARANTINED_LISTED = 100;

/**
 * Replaces the allow-list and attests every host against it, a page of hosts at a time. Answers
 * the list and the hosts whose verdict is quarantine.
 */
export async function replaceAllowList(
  fleet: Fleet,
  entries: Array<{ stage: BootStage; digest: string; description: string }>,
) {
  if (entries.length > ALLOW_LIST_MAX)
    throw invalidParameter("body.entries", `at most ${ALLOW_LIST_MAX} entries`);
  const seen = new Set<string>();
  entries.forEach((e, i) => {
    if (e.stage === "config")
      throw invalidParameter(
        `body.entries.${i}.stage`,
        "the configuration is judged against what the fleet provisioned",
      );
    const key = `${e.stage}:${e.digest}`;
    if (seen.has(key)) throw invalidParameter(`body.entries.${i}`, "the same stage and digest twice");
    seen.add(key);
  });
  const now = Date.now();
  await fleet.db.batch([
    fleet.db.delete(bootAllowList),
    ...entries.map((e) => fleet.db.insert(bootAllowList).values({ ...e, addedAt: now })),
  ] as unknown as Parameters<typeof fleet.db.batch>[0]);
  const list = entries.map((e) => ({ stage: e.stage, digest: e.digest }));
  const quarantined: string[] = [];
  let attested = 0;
  let after = "";
  for (;;) {
    const page = await fleet.db
      .select({ id: hosts.id })
      .from(hosts)
      .where(gt(hosts.id, after))
      .orderBy(asc(hosts.id))
      .limit(100);
    for (const h of page) {
      const r = await attestHost(fleet, h.id, list);
      attested++;
      if (r.status === "quarantined") quarantined.push(h.id);
    }
    if (page.length < 100) break;
    after = page[page.length - 1].id;
  }
  return {
    entries: await readAllowList(fleet),
    hostsAttested: attested,
    quarantinedCount: quarantined.length,
    quarantined: quarantined.slice(0, QUARANTINED_LISTED),
  };
}
