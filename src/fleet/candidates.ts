// Placement candidates: the available hosts of a family with their free capacity, as D1
// has them. An isolate keeps them for a moment rather than reading every host of a family
// on every launch, and keeps them current with the use every host-object answer carries.
// The host object stays the judge of admission: a stale view costs an offer that a host
// turns down, never an overcommit, and a placement that finds no room in a view it did not
// read itself reads D1 again before it answers that there is no capacity.
import { and, eq, notExists } from "drizzle-orm";
import { hostAttestations, hosts } from "../db/schema";
import type { HostCandidate } from "../sim/placement";
import type { HostUsage } from "../sim/records";
import type { Fleet } from "./context";
import { isolateViews } from "./isolate-views";

/**
 * How long an isolate trusts what it read. Other isolates' launches and hosts added through
 * them show up within this; this isolate's own changes at once (noteUsage, forgetCandidates).
 */
export const CANDIDATES_TTL_MS = 1_000;

/** A candidate and the version of the use its free capacity is from. */
export interface Candidate extends HostCandidate {
  usageVersion: number;
  /** Its rack: placement groups place by rack (placement-groups.ts). */
  rack: string;
}

interface View {
  readAt: number;
  hosts: Map<string, Candidate>;
}

/** Per D1 database, per family. */
const views = isolateViews<View>();
const viewsOf = views.of;

/**
 * The family's available hosts, neither quarantined nor dedicated, a page at a time as one
 * JSON array of arrays: at 20,000 hosts D1 hands over a few values rather than 20,000 rows of
 * named columns, about a quarter of the time. A page stays well under D1's 2,000,000 bytes a
 * value (an entry is about 100 bytes).
 */
const CANDIDATES_SQL = `SELECT json_group_array(json_array(id, zone, rack, state, free_vcpus, free_memory_mib, free_nvme_gb, usage_version)) AS list, max(id) AS last, count(*) AS n
  FROM (SELECT h.* FROM hosts AS h
    WHERE h.family = ? AND h.state = 'available' AND h.id > ?
      AND NOT EXISTS (SELECT 1 FROM host_attestations AS a WHERE a.host_id = h.id AND a.status = 'quarantined')
      AND NOT EXISTS (SELECT 1 FROM dedicated_hosts AS d WHERE d.host_id = h.id)
    ORDER BY h.id LIMIT ?)`;

/** Hosts in one page of the candidates' read. */
export const CANDIDATES_PAGE = 5_000;

type CandidateTuple = [string, string, string, string, number, number, number, number];

/** The family's candidates as D1 has them, `pageSize` hosts to a D1 read. */
export async function readCandidates(
  fleet: Fleet,
  family: string,
  pageSize = CANDIDATES_PAGE,
): Promise<Candidate[]> {
  const rows: Candidate[] = [];
  for (let after = ""; ; ) {
    const page = await fleet.db.$client
      .prepare(CANDIDATES_SQL)
      .bind(family, after, pageSize)
      .first<{ list: string; last: string | null; n: number }>();
    for (const [id, zone, rack, state, freeVcpus, freeMemoryMiB, freeNvmeGB, usageVersion] of JSON.parse(
      page?.list ?? "[]",
    ) as CandidateTuple[]) {
      rows.push({
        id,
        zone,
        rack,
        family,
        state: state as Candidate["state"],
        freeVcpus,
        freeMemoryMiB,
        freeNvmeGB,
        usageVersion,
      });
    }
    if (!page || page.n < pageSize || page.last === null) break;
    after = page.last;
  }
  return rows;
}

async function read(fleet: Fleet, family: string): Promise<View> {
  const rows = await readCandidates(fleet, family);
  const view: View = { readAt: Date.now(), hosts: new Map(rows.map((r) => [r.id, r])) };
  // What this isolate learned from host objects while the read ran is newer than D1 may be.
  const before = viewsOf(fleet.env.DB).get(family);
  if (before) {
    for (const [id, e] of before.hosts) {
      const read = view.hosts.get(id);
      if (read && read.usageVersion < e.usageVersion) view.hosts.set(id, e);
    }
  }
  viewsOf(fleet.env.DB).set(family, view);
  return view;
}

/**
 * The family's available hosts: the isolate's view while it is fresh, else (or when
 * `reread`) what D1 holds now. `read` says whether this call read D1.
 */
export async function familyHosts(
  fleet: Fleet,
  family: string,
  reread = false,
): Promise<{ hosts: Candidate[]; read: boolean }> {
  const cached = viewsOf(fleet.env.DB).get(family);
  const view =
    !reread && cached && Date.now() - cached.readAt < CANDIDATES_TTL_MS ? cached : await read(fleet, family);
  // Copies: a placement works out its own plan on them.
  return { hosts: [...view.hosts.values()].map((h) => ({ ...h })), read: view !== cached };
}

/** A host object's answer: its use as of that answer, if newer than what the view holds. */
export function noteUsage(fleet: Fleet, family: string, hostId: string, usage: HostUsage): void {
  const e = viewsOf(fleet.env.DB).get(family)?.hosts.get(hostId);
  if (!e || e.usageVersion > usage.version) return;
  e.usageVersion = usage.version;
  e.state = usage.state;
  e.freeVcpus = usage.capacity.vcpus.free;
  e.freeMemoryMiB = usage.capacity.memoryMiB.free;
  e.freeNvmeGB = usage.capacity.nvmeGB.free;
}

/** After hosts were added or changed state here: the next placement reads D1. */
export function forgetCandidates(fleet: Fleet, family?: string): void {
  if (family === undefined) views.drop(fleet.env.DB);
  else viewsOf(fleet.env.DB).delete(family);
}

/** A host whose measured boot failed attestation (security-boot.ts) is never offered an instance. */
export function notQuarantined(fleet: Fleet) {
  return notExists(
    fleet.db
      .select({ one: hostAttestations.hostId })
      .from(hostAttestations)
      .where(and(eq(hostAttestations.hostId, hosts.id), eq(hostAttestations.status, "quarantined"))),
  );
}
