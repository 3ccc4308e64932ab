// The network's part of the repair path: an interface whose instance has terminated (or is
// unknown) holds an address nobody uses; a terminate whose release failed leaves one behind.
// Reconcile finds them and, when repairing, releases them, so addresses are never lost.
// Instances with no interface are counted too: they launched before networking existed (a
// launch that cannot store its instances' interfaces is rolled back, launch.ts), and they
// cannot send.
import { and, eq, isNotNull, isNull, ne, or } from "drizzle-orm";
import { instances, networkInterfaces } from "../db/schema";
import type { Fleet } from "./context";
import { releaseNetwork } from "./enis";

export async function reconcileInterfaces(fleet: Fleet, repair: boolean) {
  const interfacesChecked = await fleet.db.$count(networkInterfaces);
  const leaked = await fleet.db
    .select({ instanceId: networkInterfaces.instanceId })
    .from(networkInterfaces)
    .leftJoin(instances, eq(instances.id, networkInterfaces.instanceId))
    .where(or(isNull(instances.id), eq(instances.state, "terminated")));
  const without = await fleet.db
    .select({ id: instances.id })
    .from(instances)
    .leftJoin(networkInterfaces, eq(networkInterfaces.instanceId, instances.id))
    .where(
      and(isNull(networkInterfaces.id), ne(instances.state, "terminated"), isNotNull(instances.accountId)),
    );
  const released = repair
    ? await releaseNetwork(
        fleet,
        leaked.map((l) => l.instanceId),
      )
    : 0;
  return {
    interfacesChecked,
    leaked: leaked.length,
    released,
    instancesWithoutInterface: without.length,
  };
}
