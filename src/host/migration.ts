// The host object's side of a live migration: how long a destination holds its reservation, and the
// pre-copy run over the guest as this host has it (its size, vCPUs, workload and hypervisor).
import { seedFromString } from "../sim/cpu/rng";
import type { HostModel } from "../sim/host";
import { type MigrationParams, type MigrationReport, planMigration } from "../sim/migration";

/**
 * A destination's reservation lapses after this long without the guest arriving, so a migration
 * whose steps stop for good leaves nothing held (the steps themselves release it sooner).
 */
export const MIGRATION_HOLD_MS = 10 * 60_000;

/** The run of the migration of a guest running here, or null if none runs here. Same id, same run. */
export function planHere(
  m: HostModel,
  instanceId: string,
  migrationId: string,
  params: MigrationParams,
): MigrationReport | null {
  const vm = m.vm(instanceId);
  if (!vm || vm.holdExpiresWallMs !== null) return null;
  return planMigration(vm.instance, m.host.hypervisor, params, seedFromString(migrationId));
}
