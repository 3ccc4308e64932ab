// DescribeAvailabilityZones: the zones the fleet's hosts are in (fleet/zones.ts).
import { listZones } from "../../../fleet/zones";
import { type Action, ready } from "../context";
import { wildcard } from "./instance-types";

const FILTERS: Record<string, (z: Awaited<ReturnType<typeof listZones>>[number]) => string> = {
  "zone-name": (z) => z.zoneName,
  "region-name": (z) => z.regionName,
  state: (z) => z.state,
  "zone-type": () => "availability-zone",
};

export const describeAvailabilityZones: Action = async (ctx) => {
  const { q } = ctx;
  const names = q.list("ZoneName", 100);
  const filters = q.filters((n) => Object.hasOwn(FILTERS, n));
  q.bool("AllAvailabilityZones");
  ready(ctx, q.bool("DryRun"));
  const zones = (await listZones(ctx.fleet)).filter(
    (z) =>
      (names.length === 0 || names.includes(z.zoneName)) &&
      [...filters].every(([name, values]) => values.some((v) => wildcard(v)(FILTERS[name](z)))),
  );
  return {
    availabilityZoneInfo: zones.map((z) => ({
      zoneName: z.zoneName,
      zoneState: z.state,
      regionName: z.regionName,
      messageSet: [],
      zoneType: "availability-zone",
      optInStatus: "opt-in-not-required",
      groupName: z.regionName,
      networkBorderGroup: z.regionName,
    })),
  };
};
