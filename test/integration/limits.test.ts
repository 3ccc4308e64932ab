import { describe, expect, it } from "vitest";
import {
  LAUNCH_MAX_BYTES,
  MAX_LAUNCH_COUNT,
  MAX_TAG_FILTERS,
  PAGE_MAX_BYTES,
  RECORD_BYTES,
  ZONE_MAX_LENGTH,
} from "../../src/fleet/limits";
import { addHosts, call, freshZone, type InstanceBody, largestTags, launch, type Problem } from "./helpers";

/** The largest host the API allows: 2,048 threads and 16 TiB. */
const LARGEST_HOST = { sockets: 8, coresPerSocket: 128, threadsPerCore: 2, memoryMiB: 16 * 1024 * 1024 };

async function count(zone: string): Promise<number> {
  const res = await call<{ instances: unknown[] }>(
    "GET",
    `/v1/instances?availabilityZone=${zone}&limit=1000`,
  );
  return res.body.instances.length;
}

describe("the bounds of one request", () => {
  it(`refuses a launch of more than ${MAX_LAUNCH_COUNT} instances, naming the count, and launches nothing`, async () => {
    const zone = freshZone();
    await addHosts(zone, "c5", 2);
    const res = await launch({
      instanceType: "c5.large",
      availabilityZone: zone,
      maxCount: MAX_LAUNCH_COUNT + 1,
    });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("InvalidParameterValue");
    expect(res.body.detail).toContain("maxCount");
    expect(await count(zone)).toBe(0);
  });

  it("refuses a launch whose records would pass the byte bound, naming the count that fits", async () => {
    const zone = freshZone();
    await addHosts(zone, "r5", 1, LARGEST_HOST);
    const tags = largestTags("€");
    const fits = Math.floor(
      LAUNCH_MAX_BYTES / (new TextEncoder().encode(JSON.stringify(tags)).length + RECORD_BYTES),
    );
    const res = await launch({ instanceType: "r5.large", availabilityZone: zone, maxCount: fits + 1, tags });
    expect(res.status).toBe(400);
    expect(res.body.detail).toContain("maxCount");
    expect(res.body.detail).toContain(`at most ${fits} instances`);
    expect(await count(zone)).toBe(0);
    // The largest tags in ASCII fit the most instances a launch may carry.
    expect(
      (
        await launch({
          instanceType: "r5.large",
          availabilityZone: zone,
          maxCount: MAX_LAUNCH_COUNT,
          tags: largestTags(),
        })
      ).status,
    ).toBe(201);
  });

  it("refuses a host in a zone of 60,000 characters, and a launch that names one", async () => {
    const zone = `us-${"q".repeat(60_000)}-1b`;
    const host = await call<Problem>("POST", "/v1/hosts", { availabilityZone: zone, family: "r4" });
    expect(host.status).toBe(400);
    expect(host.body.detail).toContain("availabilityZone");
    const res = await launch({ instanceType: "r4.large", availabilityZone: zone });
    expect(res.status).toBe(400);
    expect(res.body.detail).toContain("availabilityZone");
  });

  it("keeps the default rack of the longest zone within a rack's own limit", async () => {
    // Two letters, sixteen, a digit and a letter: the longest name the pattern allows.
    const zone = `zz-${"q".repeat(16)}-1a`;
    expect(zone).toHaveLength(ZONE_MAX_LENGTH);
    const [host] = await addHosts(zone, "c5", 1);
    const res = await call<{ rack: string }>("GET", `/v1/hosts/${host.hostId}`);
    expect(res.body.rack.length).toBeLessThanOrEqual(64);
  });

  it("refuses tags with control characters, naming the tag", async () => {
    const zone = freshZone();
    await addHosts(zone, "c5", 1);
    const res = await launch({
      instanceType: "c5.large",
      availabilityZone: zone,
      tags: { team: "a\u0000b" },
    });
    expect(res.status).toBe(400);
    expect(res.body.detail).toContain("tags.team");
    expect(await count(zone)).toBe(0);
  });

  it(`refuses a list with more than ${MAX_TAG_FILTERS} tag filters`, async () => {
    const tags = Array.from({ length: MAX_TAG_FILTERS + 1 }, (_, i) => `tag=k${i}`).join("&");
    const res = await call<Problem>("GET", `/v1/instances?${tags}`);
    expect(res.status).toBe(400);
    expect(res.body.detail).toContain("tag");
  });

  it("ends a page of the largest instances at its byte budget, with a cursor to the rest", async () => {
    const zone = freshZone();
    await addHosts(zone, "r5", 1, {
      sockets: 8,
      coresPerSocket: 128,
      threadsPerCore: 2,
      memoryMiB: 16 * 1024 * 1024,
    });
    const launched = await launch({
      instanceType: "r5.large",
      availabilityZone: zone,
      minCount: MAX_LAUNCH_COUNT,
      maxCount: MAX_LAUNCH_COUNT,
      tags: largestTags(),
    });
    expect(launched.status).toBe(201);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = `/v1/instances?availabilityZone=${zone}&limit=1000${cursor ? `&cursor=${cursor}` : ""}`;
      const page = await call<{ instances: InstanceBody[]; nextCursor: string | null }>("GET", q);
      expect(page.status).toBe(200);
      const bytes = new TextEncoder().encode(JSON.stringify(page.body)).length;
      // One row over at most: the budget counts each row's text columns and a fixed allowance.
      expect(bytes).toBeLessThanOrEqual(PAGE_MAX_BYTES + 32 * 1024);
      expect(page.body.instances.length).toBeLessThan(MAX_LAUNCH_COUNT);
      seen.push(...page.body.instances.map((i) => i.instanceId));
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBeGreaterThan(1);
    expect(seen).toEqual(launched.body.instances.map((i) => i.instanceId).sort());
  });
});
