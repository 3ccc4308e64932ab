// Placement candidates read from D1 a page at a time (src/fleet/candidates.ts): small pages
// give exactly the hosts one large read gives, each once.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { OPERATOR } from "../../src/fleet/accounts";
import { readCandidates } from "../../src/fleet/candidates";
import { Fleet } from "../../src/fleet/context";
import { addHosts, freshZone } from "./helpers";

describe("placement candidates", () => {
  it("reads the same hosts in pages of 3 as in one page, each once", async () => {
    const zone = freshZone();
    const made = await addHosts(zone, "m5", 7);
    const fleet = new Fleet(env, OPERATOR);
    const whole = await readCandidates(fleet, "m5", 100_000);
    const paged = await readCandidates(fleet, "m5", 3);
    const ids = (list: { id: string }[]) => list.map((h) => h.id).sort();
    expect(ids(paged)).toEqual(ids(whole));
    expect(new Set(ids(paged)).size).toBe(paged.length);
    for (const h of made) expect(ids(paged)).toContain(h.hostId);
    const mine = paged.find((h) => h.id === made[0].hostId)!;
    expect(mine).toMatchObject({ zone, family: "m5", state: "available" });
    expect(mine.freeVcpus).toBeGreaterThan(0);
  });
});
