// The CPU model's snapshot as the host object stores it: the host's part (its description, clock
// and counters) as one JSON value, and each VM's part as a row of its own with its place in the
// model's order, so a call that adds or changes one VM rewrites that VM's row, not all of them.
import type { HostCpuSnapshot, VmCpuSnapshot } from "../sim/cpu";
import type { Sql } from "./sql";

/** The host's part of a snapshot: everything but the VMs. */
export type CpuHostPart = Omit<HostCpuSnapshot, "vms">;

/** A VM's stored row: its JSON and its place among the VMs (only the order of places counts). */
export interface CpuVmRow {
  json: string;
  seq: number;
}

export function hostPart(snap: HostCpuSnapshot): CpuHostPart {
  const { vms: _vms, ...host } = snap;
  return host;
}

/** The snapshot the host part and the rows stand for, its VMs in the order of their places. */
export function joinCpu(host: CpuHostPart, rows: readonly { json: string; seq: number }[]): HostCpuSnapshot {
  const vms = [...rows].sort((a, b) => a.seq - b.seq).map((r) => JSON.parse(r.json) as VmCpuSnapshot);
  return { ...host, vms };
}

/**
 * The rows to write so the store holds `vms` in this order, given what it holds (`stored`,
 * which is updated): a VM whose JSON is unchanged and whose place still comes after the one
 * before it keeps its row; a new VM takes the place after the one before it, and any VM that
 * would then be out of order is moved after it too. Answers the ids the store holds and `vms`
 * has not: their rows go.
 */
export function diffCpuVms(
  vms: readonly { id: string; json: string }[],
  stored: Map<string, CpuVmRow>,
  write: (id: string, row: CpuVmRow) => void,
): string[] {
  let previous = Number.NEGATIVE_INFINITY;
  const present = new Set<string>();
  for (const { id, json } of vms) {
    present.add(id);
    const held = stored.get(id);
    if (held && held.seq > previous) {
      previous = held.seq;
      if (held.json === json) continue;
      held.json = json;
      write(id, held);
      continue;
    }
    const row = { json, seq: previous === Number.NEGATIVE_INFINITY ? 0 : previous + 1 };
    stored.set(id, row);
    write(id, row);
    previous = row.seq;
  }
  const gone = [...stored.keys()].filter((id) => !present.has(id));
  for (const id of gone) stored.delete(id);
  return gone;
}

/**
 * The rows to write for the VMs `changes` names, or for every VM when it says `all`: what
 * `diffCpuVms` writes for the whole snapshot when every other VM's JSON is the one the store holds,
 * without making those VMs' JSON. `ids` are the model's VMs in its order, `jsonOf` makes one's JSON;
 * a VM the store does not hold, or holds out of order, is written whether named or not. Answers the
 * ids the store holds and `ids` has not: their rows go.
 */
export function diffChangedCpuVms(
  ids: readonly string[],
  changes: { all: boolean; vms: ReadonlySet<string> },
  stored: Map<string, CpuVmRow>,
  jsonOf: (id: string) => string,
  write: (id: string, row: CpuVmRow) => void,
): string[] {
  let previous = Number.NEGATIVE_INFINITY;
  for (const id of ids) {
    const held = stored.get(id);
    if (held && held.seq > previous) {
      previous = held.seq;
      if (!changes.all && !changes.vms.has(id)) continue;
      const json = jsonOf(id);
      if (held.json === json) continue;
      held.json = json;
      write(id, held);
      continue;
    }
    const row = { json: jsonOf(id), seq: previous === Number.NEGATIVE_INFINITY ? 0 : previous + 1 };
    stored.set(id, row);
    write(id, row);
    previous = row.seq;
  }
  // Every id is stored now: any more rows are VMs that left.
  if (stored.size === ids.length) return [];
  const present = new Set(ids);
  const gone = [...stored.keys()].filter((id) => !present.has(id));
  for (const id of gone) stored.delete(id);
  return gone;
}

/** Writes a whole snapshot as the rows would hold it (the schema step that splits the old single value). */
export function writeCpuRows(sql: Sql, snap: HostCpuSnapshot): void {
  sql`INSERT OR REPLACE INTO meta (key, value) VALUES ('cpuHost', ${JSON.stringify(hostPart(snap))})`;
  for (const [seq, vm] of snap.vms.entries()) {
    sql`INSERT OR REPLACE INTO cpu_vms (vm_id, seq, json) VALUES (${vm.id}, ${seq}, ${JSON.stringify(vm)})`;
  }
}
