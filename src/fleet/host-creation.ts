// Making hosts, one or thousands: each host's object is made and measures its boot in one
// call; the fleet judges every boot against the allow-list here, tells a host whose boot
// failed that it is quarantined (it then admits nothing, whoever offers), and writes the hosts'
// rows and their verdicts to D1 in one batch, so that no host is in the inventory without its
// verdict. A host that passed is not called again: trusted is what a new host already holds.
import { hostAttestations } from "../db/schema";
import { fanOut } from "../events/fanout";
import { hostOptimizations } from "../sim/host";
import type { FleetEvent, HostRecord, HostUsage } from "../sim/records";
import { type AllowedMeasurement, judgeBoot } from "../sim/security/boot-policy";
import type { CheckResult } from "../sim/security/isolation";
import { type BootRecord, chainHolds, configImage, sha384 } from "../sim/security/measured-boot";
import { forgetCandidates } from "./candidates";
import type { Fleet } from "./context";
import { eventAccount, insertFromJson, jsonArrays, mirror, type Statement } from "./mirror";
import { inParallel, type Settled } from "./parallel";
import { readAllowList } from "./security-boot";

export interface MadeHost {
  host: HostRecord;
  usage: HostUsage;
  status: "trusted" | "quarantined";
}

/** A verdict row of host_attestations, as the attestation path writes it (security-boot.ts). */
interface Verdict {
  hostId: string;
  status: MadeHost["status"];
  pcr: string;
  expectedConfig: string;
  findings: string;
  attestedAt: number;
}

// Verdicts, many to a statement (mirror.ts): a thousand hosts' are a few statements in the
// batch that writes their rows. A host attested again replaces its verdict.
const VERDICTS = insertFromJson(hostAttestations, "host_attestations");
const UPSERT_VERDICTS = `${VERDICTS.sql} ON CONFLICT ("host_id") DO UPDATE SET ${VERDICTS.updates}`;

function upsertVerdicts(rows: readonly Verdict[]): Statement[] {
  return jsonArrays(rows.map((r) => JSON.stringify(r))).map((json) => ({
    sql: UPSERT_VERDICTS,
    params: [json],
  }));
}

/**
 * Judges boots as judgeHost does (security-boot.ts): the chain of measurements recomputed and
 * every digest checked against the allow-list and the provisioned configuration. Hosts of one
 * shape boot the same images, so the digests that are the same are hashed once a request.
 */
function judge(list: AllowedMeasurement[]) {
  const configs = new Map<string, Promise<string>>();
  const chains = new Map<string, Promise<boolean>>();
  return async (host: HostRecord, record: BootRecord): Promise<{ check: CheckResult; expected: string }> => {
    const opts = hostOptimizations(host);
    const configKey = `${host.hypervisor}:${JSON.stringify(opts)}`;
    let expected = configs.get(configKey);
    if (!expected) {
      expected = sha384(configImage(host.hypervisor, opts).bytes);
      configs.set(configKey, expected);
    }
    const chainKey = `${record.pcr}:${record.measurements.map((m) => `${m.digest}>${m.pcr}`).join(",")}`;
    let holds = chains.get(chainKey);
    if (!holds) {
      holds = chainHolds(record);
      chains.set(chainKey, holds);
    }
    const exp = await expected;
    return { check: judgeBoot(record, await holds, list, exp), expected: exp };
  };
}

/**
 * How long a new host holds its creation event for this request's confirmation before it
 * sends it through the events queue itself: longer than a bulk request takes under load.
 */
export const CREATION_CONFIRM_MS = 30_000;

/**
 * Writes the new hosts' rows, their events and `extra` (the verdicts) to D1 in one batch, fans
 * the events out to webhook subscriptions as the events consumer would, and then tells each
 * host that its creation is mirrored, so that its outbox drops the event unsent. A fleet made
 * in bulk is then a few D1 batches rather than one queue message per host (the local queue
 * broker keeps a timer per message, and refuses past 10,000: README, Known limits). If any
 * step fails, no host is told: each sends its event through the queue once its hold ends,
 * as every host did before, so nothing is lost and the consumer's idempotence covers a
 * host told nothing after the mirror went through.
 */
async function confirmCreations(fleet: Fleet, events: readonly FleetEvent[], extra: Statement[]) {
  try {
    await mirror(fleet.db, events, extra);
  } catch (err) {
    // As every applied change (mirror.ts mirrorApplied): the hosts are made, the request says so,
    // and each host's held event brings its row through the queue (a quarantined host was told
    // already, so it takes nothing meanwhile).
    console.warn("mirroring new hosts to D1 failed; their events queue will apply them", err);
    return;
  }
  try {
    await fanOut(
      fleet.db,
      fleet.env.WEBHOOKS,
      events.map((e) => e.id),
      new Map(events.map((e) => [e.id, eventAccount(e)])),
    );
  } catch (err) {
    // The rows are in; the events consumer fans the events out when the hosts send them.
    console.warn("fanning new hosts' events out failed; their events queue will", err);
    return;
  }
  const byHost = new Map<string, string[]>();
  for (const e of events) {
    if (!e.hostId) continue;
    const ids = byHost.get(e.hostId) ?? [];
    ids.push(e.id);
    byHost.set(e.hostId, ids);
  }
  const told = await inParallel([...byHost], ([hostId, ids]) => fleet.host(hostId).mirrored(ids));
  const missed = told.filter((t) => !t.ok).length;
  if (missed > 0) console.warn(`${missed} new hosts were not told their creation is mirrored; they send it`);
}

/**
 * Makes the hosts of `records` (checked already), many objects at a time. Answers each
 * host's outcome in order: made (with its verdict), or the error of an object that did not
 * answer, which may or may not exist (reconcile never sees it until its object mirrors its
 * creation through the queue).
 */
export async function makeHosts(fleet: Fleet, records: readonly HostRecord[]): Promise<Settled<MadeHost>[]> {
  const [clock, list] = await Promise.all([fleet.clock(), readAllowList(fleet)]);
  const answers = await inParallel(records, (r) =>
    fleet.host(r.hostId).create(r, clock, CREATION_CONFIRM_MS),
  );
  const judgeOne = judge(list.map((e) => ({ stage: e.stage, digest: e.digest })));
  const events: FleetEvent[] = [];
  const verdicts: Verdict[] = [];
  const out: Settled<MadeHost>[] = await Promise.all(
    answers.map(async (a): Promise<Settled<MadeHost>> => {
      if (!a.ok) return a;
      const { host, record } = a.value.result;
      events.push(...a.value.events);
      const { check, expected } = await judgeOne(host, record);
      const status = check.status === "pass" ? "trusted" : "quarantined";
      verdicts.push({
        hostId: host.hostId,
        status,
        pcr: record.pcr,
        expectedConfig: expected,
        findings: JSON.stringify(check.findings),
        attestedAt: Date.now(),
      });
      return { ok: true, value: { host, usage: a.value.usage, status } };
    }),
  );
  // The host refuses instances itself before the inventory lists it: should the D1 write below
  // fail, the events queue brings its row without the verdict, and it still takes nothing.
  const quarantined = verdicts.filter((v) => v.status === "quarantined");
  const told = await inParallel(quarantined, (v) => fleet.host(v.hostId).setQuarantined(true));
  for (const [i, t] of told.entries()) {
    if (!t.ok) console.warn(`host ${quarantined[i].hostId} was not told of its quarantine`, t.err);
  }
  await confirmCreations(fleet, events, upsertVerdicts(verdicts));
  const families = new Set(records.map((r) => r.family));
  for (const f of families) forgetCandidates(fleet, f);
  return out;
}
