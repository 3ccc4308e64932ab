// Availability zones: the zones the fleet's hosts are in, read from the D1 inventory. A zone
// is available while one of its hosts takes launches; with none it is impaired.
import { asc, sql } from "drizzle-orm";
import { hosts } from "../db/schema";
import type { Fleet } from "./context";

export interface ZoneView {
  zoneName: string;
  regionName: string;
  state: "available" | "impaired";
  hosts: number;
}

export async function listZones(fleet: Fleet): Promise<ZoneView[]> {
  const rows = await fleet.db
    .select({
      zone: hosts.zone,
      hosts: sql<number>`count(*)`,
      available: sql<number>`sum(CASE WHEN ${hosts.state} = 'available' THEN 1 ELSE 0 END)`,
    })
    .from(hosts)
    .groupBy(hosts.zone)
    .orderBy(asc(hosts.zone));
  return rows.map((r) => ({
    zoneName: r.zone,
    // A zone is its region's name and one letter (fleet/limits.ts ZONE_PATTERN).
    regionName: r.zone.slice(0, -1),
    state: r.available > 0 ? "available" : "impaired",
    hosts: r.hosts,
  }));
}
