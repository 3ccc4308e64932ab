// The demo fleet `npm start` serves: 8 Nitro hosts (m5, c5, r5, m5d) and 3 Xen hosts (two m4,
// whose guests are HVM, and an m3, where a guest may be paravirtual) across two zones. Host ids
// are fixed so that seeding twice creates nothing twice. It also registers the demo tenant's key.
import { count } from "drizzle-orm";
import { hosts } from "../db/schema";
import type { Family } from "../sim/catalog";
import { registerDemoKey } from "./accounts";
import type { Fleet } from "./context";
import { createHost } from "./hosts";
import { seedDemoStorage } from "./storage-nodes";

const DEMO: { family: Family; zone: string }[] = [
  { family: "m5", zone: "us-east-1a" },
  { family: "m5", zone: "us-east-1b" },
  { family: "m5", zone: "us-east-1a" },
  { family: "c5", zone: "us-east-1a" },
  { family: "c5", zone: "us-east-1b" },
  { family: "r5", zone: "us-east-1a" },
  { family: "r5", zone: "us-east-1b" },
  { family: "m5d", zone: "us-east-1b" },
  { family: "m4", zone: "us-east-1a" },
  { family: "m4", zone: "us-east-1b" },
  { family: "m3", zone: "us-east-1b" },
];

let seeded = false;

export async function seedDemoFleet(fleet: Fleet): Promise<void> {
  if (seeded || fleet.env.DEMO_FLEET !== "true") return;
  const n = await fleet.db.select({ n: count() }).from(hosts).get();
  if ((n?.n ?? 0) === 0) {
    await Promise.all(
      DEMO.map((d, i) =>
        createHost(fleet, {
          family: d.family,
          availabilityZone: d.zone,
          rack: `${d.zone}-rack-${1 + (i % 3)}`,
          hostId: `h-${(i + 1).toString(16).padStart(17, "0")}`,
        }),
      ),
    );
  }
  await seedDemoStorage(fleet, ["us-east-1a", "us-east-1b"]);
  await registerDemoKey(fleet.db, fleet.env.HYPERFLEET_DEMO_KEY);
  seeded = true;
}
