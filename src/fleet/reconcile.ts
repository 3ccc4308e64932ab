// The repair path that proves D1 and the host objects agree: every host object is read,
// compared row by row with the inventory, and (when asked) D1 is brought in line with
// the objects, which are the truth for what runs on them. A host is read a page at a time
// (fleet/host-pages.ts), and one that cannot be read is reported while the rest go on.
import { and, asc, gt, inArray, isNotNull, sql } from "drizzle-orm";
import { hostAttestations, hosts, instances } from "../db/schema";
import { RECORDS_MAX } from "../host/answer";
import { occupiesHost } from "../sim/lifecycle";
import type { InstanceRecord } from "../sim/records";
import { forgetCandidates } from "./candidates";
import type { Fleet } from "./context";
import { recordsOf, vmPages } from "./host-pages";
import { checkReconcileHosts, MAX_RECONCILE_HOSTS } from "./limits";
import { resumeMigrations } from "./migration-reconcile";
import { IN_LIST, mirror, updateHostUsage, upsertInstances } from "./mirror";
import { reconcileInterfaces } from "./network-reconcile";
import { inParallel } from "./parallel";
import { reclaimScheduledEvents } from "./scheduled-events";
import { reconcileStorage } from "./storage-reconcile";

export interface Mismatch {
  hostId: string;
  instanceId: string | null;
  kind:
    | "missing-in-d1"
    | "stale-in-d1"
    | "host-usage"
    | "not-on-host"
    | "host-missing"
    | "host-error"
    /** The host object's quarantine flag differs from the fleet's verdict in D1 (which rules). */
    | "boot-verdict";
  detail: string;
}

/** A report lists this many mismatches at most; `mismatchCount` counts them all. */
export const MISMATCHES_LISTED = 1000;

type HostRow = typeof hosts.$inferSelect;
type Brief = { id: string; accountId: string | null; state: string; version: number; hostId: string | null };

const brief = {
  id: instances.id,
  accountId: instances.accountId,
  state: instances.state,
  version: instances.version,
  hostId: instances.hostId,
};

interface Tally {
  mismatches: Mismatch[];
  mismatchCount: number;
  repaired: number;
  instancesChecked: number;
  outboxPending: number;
}

function note(t: Tally, m: Mismatch): void {
  t.mismatchCount++;
  if (t.mismatches.length < MISMATCHES_LISTED) t.mismatches.push(m);
}

/** A page of the fleet's hosts: those after `afterHostId` (in order of id), at most `limit`. */
export interface HostPage {
  afterHostId?: string;
  limit: number;
}

/**
 * Compares every host object with D1, or, given `page`, the hosts of that page and the rows
 * of D1 that name them; the fleet-wide parts (migrations, interfaces, storage) are checked
 * once, on the page that starts a walk (no `afterHostId`). `nextHostId` continues the walk.
 */
export async function reconcile(fleet: Fleet, repair: boolean, page?: HostPage) {
  if (page) checkReconcileHosts("body.hostLimit", page.limit);
  const hostRows = page
    ? await fleet.db
        .select()
        .from(hosts)
        .where(page.afterHostId ? gt(hosts.id, page.afterHostId) : undefined)
        .orderBy(asc(hosts.id))
        .limit(page.limit + 1)
    : await fleet.db.select().from(hosts).orderBy(asc(hosts.id));
  const more = page !== undefined && hostRows.length > page.limit;
  if (more) hostRows.pop();
  const rowsByHost = await instancesByHost(fleet, page ? hostRows.map((h) => h.id) : undefined);
  const verdicts = await verdictsOf(
    fleet,
    hostRows.map((h) => h.id),
  );
  // Hosts are read many at a time, each into its own tally, added up in the hosts' order.
  const tallies = await inParallel(hostRows, async (h) => {
    const own: Tally = {
      mismatches: [],
      mismatchCount: 0,
      repaired: 0,
      instancesChecked: 0,
      outboxPending: 0,
    };
    try {
      await reconcileHost(fleet, h, rowsByHost.get(h.id) ?? [], verdicts.get(h.id), repair, own);
    } catch (err) {
      // One host that cannot be read (or repaired) must not keep the others from it.
      note(own, {
        hostId: h.id,
        instanceId: null,
        kind: "host-error",
        detail: `the host could not be reconciled: ${err instanceof Error ? err.message : String(err)}`.slice(
          0,
          256,
        ),
      });
    }
    return own;
  });
  const t: Tally = { mismatches: [], mismatchCount: 0, repaired: 0, instancesChecked: 0, outboxPending: 0 };
  for (const settled of tallies) {
    // reconcileHost's own failures are caught above; a settled failure cannot happen.
    if (!settled.ok) throw settled.err;
    const own = settled.value;
    t.mismatches.push(...own.mismatches.slice(0, MISMATCHES_LISTED - t.mismatches.length));
    t.mismatchCount += own.mismatchCount;
    t.repaired += own.repaired;
    t.instancesChecked += own.instancesChecked;
    t.outboxPending += own.outboxPending;
  }
  // Repaired host rows may change what placement should see.
  if (t.repaired > 0) forgetCandidates(fleet);
  // The fleet-wide parts once a walk: on its first page (or the whole fleet's one pass).
  const whole = !page?.afterHostId;
  const migrationSteps = whole ? await resumeMigrations(fleet, repair) : { open: 0, resumed: 0 };
  const events = whole ? await reclaimScheduledEvents(fleet, repair) : { acting: 0, reclaimed: 0 };
  const network = whole
    ? await reconcileInterfaces(fleet, repair)
    : { interfacesChecked: 0, leaked: 0, released: 0, instancesWithoutInterface: 0 };
  // The block store's objects and rows, in the same pass.
  const storage = whole
    ? await reconcileStorage(fleet, repair)
    : { nodesChecked: 0, replicasChecked: 0, agree: true, mismatchCount: 0, mismatches: [], repaired: 0 };
  return {
    nextHostId: more ? hostRows[hostRows.length - 1].id : null,
    hostsChecked: hostRows.length,
    instancesChecked: t.instancesChecked,
    // D1 against the host objects and the storage node objects; the network's own check (D1
    // against itself) is reported beside it.
    agree: t.mismatchCount === 0 && storage.agree,
    mismatches: t.mismatches,
    mismatchCount: t.mismatchCount,
    repaired: t.repaired,
    outboxPending: t.outboxPending,
    migrationsOpen: migrationSteps.open,
    migrationsResumed: migrationSteps.resumed,
    scheduledEventsActing: events.acting,
    scheduledEventsReclaimed: events.reclaimed,
    network,
    storage,
  };
}

/** Rows read from D1 a page at a time when the whole inventory is compared. */
const ROWS_PAGE = 5_000;

/**
 * D1's rows that name a host, by host: one read of the inventory a page at a time, rather
 * than a query for each of the fleet's hosts.
 */
async function instancesByHost(fleet: Fleet, hostIds?: string[]): Promise<Map<string, Brief[]>> {
  const out = new Map<string, Brief[]>();
  let after: string | null = null;
  const onHosts =
    hostIds === undefined
      ? isNotNull(instances.hostId)
      : sql`${instances.hostId} IN (SELECT value FROM json_each(${JSON.stringify(hostIds)}))`;
  for (;;) {
    const page: Brief[] = await fleet.db
      .select(brief)
      .from(instances)
      .where(and(onHosts, after === null ? undefined : gt(instances.id, after)))
      .orderBy(asc(instances.id))
      .limit(ROWS_PAGE);
    for (const r of page) {
      const list = out.get(r.hostId!);
      if (list) list.push(r);
      else out.set(r.hostId!, [r]);
    }
    if (page.length < ROWS_PAGE) return out;
    after = page[page.length - 1].id;
  }
}

/** The fleet's verdicts on the hosts' boots (D1, which placement reads), read once for all of them. */
async function verdictsOf(fleet: Fleet, hostIds: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (let at = 0; at < hostIds.length; at += MAX_RECONCILE_HOSTS) {
    const rows = await fleet.db
      .select({ hostId: hostAttestations.hostId, status: hostAttestations.status })
      .from(hostAttestations)
      .where(
        sql`${hostAttestations.hostId} IN (SELECT value FROM json_each(${JSON.stringify(hostIds.slice(at, at + MAX_RECONCILE_HOSTS))}))`,
      );
    for (const r of rows) out.set(r.hostId, r.status);
  }
  return out;
}

async function reconcileHost(
  fleet: Fleet,
  h: HostRow,
  rows: Brief[],
  verdictStatus: string | undefined,
  repair: boolean,
  t: Tally,
): Promise<void> {
  const stub = fleet.host(h.id);
  const view = await stub.reconcileView();
  if (!view) {
    note(t, {
      hostId: h.id,
      instanceId: null,
      kind: "host-missing",
      detail: "D1 lists a host that has no object",
    });
    return;
  }
  t.outboxPending += view.outboxPending;
  const byId = new Map<string, Brief>(rows.map((r) => [r.id, r]));
  const onHost = new Set<string>();
  const toRepair: string[] = [];
  // A host with no VMs and no holds has no page to read.
  const pages = view.vmCount + view.heldCount > 0 ? vmPages(stub) : [];
  for await (const page of pages) {
    const vms = page.filter((v) => !v.held);
    // Rows D1 keeps under another host (or none) are read by id, a list at a time.
    const elsewhere = vms.filter((v) => !byId.has(v.instanceId)).map((v) => v.instanceId);
    for (let at = 0; at < elsewhere.length; at += IN_LIST) {
      const found = await fleet.db
        .select(brief)
        .from(instances)
        .where(inArray(instances.id, elsewhere.slice(at, at + IN_LIST)));
      for (const r of found) byId.set(r.id, r);
    }
    for (const vm of vms) {
      t.instancesChecked++;
      onHost.add(vm.instanceId);
      const row = byId.get(vm.instanceId);
      if (!row) {
        note(t, {
          hostId: h.id,
          instanceId: vm.instanceId,
          kind: "missing-in-d1",
          detail: `${vm.state} on the host`,
        });
        toRepair.push(vm.instanceId);
      } else if (
        row.version !== vm.version ||
        row.state !== vm.state ||
        row.hostId !== vm.hostId ||
        row.accountId !== vm.accountId
      ) {
        note(t, {
          hostId: h.id,
          instanceId: vm.instanceId,
          kind: "stale-in-d1",
          detail: `D1 has ${row.state} v${row.version}, the host ${vm.state} v${vm.version}`,
        });
        toRepair.push(vm.instanceId);
      }
    }
  }

  const absent = rows
    .filter((r) => !onHost.has(r.id) && occupiesHost(r.state as InstanceRecord["state"]))
    .map((r) => r.id);
  const { departed } = absent.length > 0 ? await recordsOf(stub, absent) : { departed: [] };
  const lastRecord = new Map(departed.map((d) => [d.instanceId, d]));
  for (const id of absent) {
    t.instancesChecked++;
    const last = lastRecord.get(id);
    note(t, {
      hostId: h.id,
      instanceId: id,
      kind: "not-on-host",
      detail: last
        ? `D1 has ${byId.get(id)?.state}, the host says it left as ${last.state}`
        : `D1 has ${byId.get(id)?.state}, the host has no record`,
    });
  }

  const c = view.usage.capacity;
  const usageDiffers =
    h.usedVcpus !== c.vcpus.used ||
    h.usedMemoryMiB !== c.memoryMiB.used ||
    h.vmCount !== c.vms ||
    h.state !== view.usage.state;
  if (usageDiffers) {
    note(t, {
      hostId: h.id,
      instanceId: null,
      kind: "host-usage",
      detail: `D1 has ${h.usedVcpus} vCPUs/${h.vmCount} VMs, the host ${c.vcpus.used}/${c.vms}`,
    });
  }
  // The verdict on the host's boot is the fleet's (D1, which placement reads); the host's flag copies it.
  const verdict = verdictStatus === undefined ? undefined : { status: verdictStatus };
  const quarantined = verdict?.status === "quarantined";
  const verdictDiffers = verdict !== undefined && quarantined !== view.quarantined;
  if (verdictDiffers) {
    note(t, {
      hostId: h.id,
      instanceId: null,
      kind: "boot-verdict",
      detail: `D1 has the host ${verdict.status}, the host ${view.quarantined ? "quarantined" : "trusted"}`,
    });
  }
  if (!repair) return;
  if (verdictDiffers) {
    await stub.setQuarantined(quarantined);
    t.repaired++;
  }

  // Repairs take the host's whole records, a bounded chunk at a time, each chunk written
  // before the next is read.
  if (lastRecord.size > 0) await mirror(fleet.db, [], upsertInstances([...lastRecord.values()], true));
  t.repaired += lastRecord.size;
  for (let at = 0; at < toRepair.length; at += RECORDS_MAX) {
    const { onHost: records } = await recordsOf(stub, toRepair.slice(at, at + RECORDS_MAX));
    if (records.length === 0) continue;
    await mirror(fleet.db, [], upsertInstances(records, true));
    t.repaired += records.length;
  }
  if (usageDiffers) {
    await mirror(fleet.db, [], [updateHostUsage(fleet.db, h.id, view.usage, true)]);
    t.repaired++;
  }
}
