// The addresses each subnet has taken, kept in the isolate so that a launch hands out its
// interfaces' addresses without reading the subnet's interfaces first. D1 stays the judge:
// its unique index of (subnet, address) refuses an address another isolate handed out, and
// the launch that lost reads the subnet again (enis.ts). Addresses freed elsewhere come back
// when the view is read again: at once for a release in this isolate (forgetAddresses), after
// ADDRESSES_TTL_MS, or when the view finds the subnet full.
import { eq } from "drizzle-orm";
import { networkInterfaces } from "../db/schema";
import { IpAllocator } from "../sim/network/ip-allocator";
import { parseCidr } from "../sim/network/ipv4";
import type { Fleet } from "./context";
import { isolateViews } from "./isolate-views";

/** How long an isolate trusts the addresses it read of a subnet. */
export const ADDRESSES_TTL_MS = 30_000;

interface View {
  alloc: IpAllocator;
  readAt: number;
}

/** Per D1 database, per subnet id. */
const views = isolateViews<View>();
const viewsOf = views.of;

/**
 * The subnet's addresses as this isolate knows them (read from D1 when it knows none, when
 * its view is old, or when `reread`), and whether this call read them. A caller that takes
 * addresses from it and then fails to store them calls forgetAddresses, so that the addresses
 * it took are not lost to the view.
 */
export async function subnetAddresses(
  fleet: Fleet,
  subnet: { id: string; cidr: string },
  reread = false,
): Promise<{ alloc: IpAllocator; read: boolean }> {
  const all = viewsOf(fleet.env.DB);
  const cached = all.get(subnet.id);
  if (!reread && cached && Date.now() - cached.readAt < ADDRESSES_TTL_MS)
    return { alloc: cached.alloc, read: false };
  const held = await fleet.db
    .select({ ip: networkInterfaces.ip })
    .from(networkInterfaces)
    .where(eq(networkInterfaces.subnetId, subnet.id));
  const view = {
    alloc: new IpAllocator(
      parseCidr(subnet.cidr)!,
      held.map((h) => h.ip),
    ),
    readAt: Date.now(),
  };
  all.set(subnet.id, view);
  return { alloc: view.alloc, read: true };
}

/** After addresses were freed (or taken and not stored): the next launch reads them again. */
export function forgetAddresses(d1: D1Database, subnetIds?: Iterable<string>): void {
  if (subnetIds === undefined) {
    views.drop(d1);
    return;
  }
  const all = viewsOf(d1);
  for (const id of subnetIds) all.delete(id);
}
