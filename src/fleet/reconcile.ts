// The repair path that proves D1 and the host objects agree: every host object is read,
// compared row by row with the inventory, and (when asked) D1 is brought in line with
// the objects, which are the truth for what runs on them.
import { asc, eq } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { hosts, instances } from "../db/schema";
import { occupiesHost } from "../sim/lifecycle";
import type { InstanceRecord } from "../sim/records";
import type { Fleet } from "./context";
import { mirror, updateHostUsage, upsertInstance } from "./mirror";

export interface Mismatch {
  hostId: string;
  instanceId: string | null;
  kind: "missing-in-d1" | "stale-in-d1" | "host-usage" | "not-on-host" | "host-missing";
  detail: string;
}

export async function reconcile(fleet: Fleet, repair: boolean) {
  const hostRows = await fleet.db.select().from(hosts).orderBy(asc(hosts.id));
  const mismatches: Mismatch[] = [];
  const fixes: BatchItem<"sqlite">[] = [];
  let instancesChecked = 0;
  let outboxPending = 0;
  for (const h of hostRows) {
    const view = await fleet.host(h.id).reconcileView();
    if (!view) {
      mismatches.push({
        hostId: h.id,
        instanceId: null,
        kind: "host-missing",
        detail: "D1 lists a host that has no object",
      });
      continue;
    }
    outboxPending += view.outboxPending;
    const rows = await fleet.db.select().from(instances).where(eq(instances.hostId, h.id));
    const byId = new Map(rows.map((r) => [r.id, r]));
    const onHost = new Set<string>();
    for (const vm of view.vms) {
      instancesChecked++;
      onHost.add(vm.instanceId);
      const row =
        byId.get(vm.instanceId) ??
        (await fleet.db.select().from(instances).where(eq(instances.id, vm.instanceId)).get());
      if (!row) {
        mismatches.push({
          hostId: h.id,
          instanceId: vm.instanceId,
          kind: "missing-in-d1",
          detail: `${vm.state} on the host`,
        });
        fixes.push(upsertInstance(fleet.db, vm, true));
      } else if (
        row.version !== vm.version ||
        row.state !== vm.state ||
        row.hostId !== vm.hostId ||
        row.accountId !== (vm.accountId ?? null)
      ) {
        mismatches.push({
          hostId: h.id,
          instanceId: vm.instanceId,
          kind: "stale-in-d1",
          detail: `D1 has ${row.state} v${row.version}, the host ${vm.state} v${vm.version}`,
        });
        fixes.push(upsertInstance(fleet.db, vm, true));
      }
    }
    const departed = new Map<string, InstanceRecord>(view.departed.map((d) => [d.instanceId, d]));
    for (const row of rows) {
      if (onHost.has(row.id) || !occupiesHost(row.state as InstanceRecord["state"])) continue;
      instancesChecked++;
      const last = departed.get(row.id);
      mismatches.push({
        hostId: h.id,
        instanceId: row.id,
        kind: "not-on-host",
        detail: last
          ? `D1 has ${row.state}, the host says it left as ${last.state}`
          : `D1 has ${row.state}, the host has no record`,
      });
      if (last) fixes.push(upsertInstance(fleet.db, last, true));
    }
    const c = view.usage.capacity;
    if (
      h.usedVcpus !== c.vcpus.used ||
      h.usedMemoryMiB !== c.memoryMiB.used ||
      h.vmCount !== c.vms ||
      h.state !== view.usage.state
    ) {
      mismatches.push({
        hostId: h.id,
        instanceId: null,
        kind: "host-usage",
        detail: `D1 has ${h.usedVcpus} vCPUs/${h.vmCount} VMs, the host ${c.vcpus.used}/${c.vms}`,
      });
      fixes.push(updateHostUsage(fleet.db, h.id, view.usage, true));
    }
  }
  if (repair && fixes.length > 0) await mirror(fleet.db, [], fixes);
  return {
    hostsChecked: hostRows.length,
    instancesChecked,
    agree: mismatches.length === 0,
    mismatches,
    repaired: repair ? fixes.length : 0,
    outboxPending,
  };
}
