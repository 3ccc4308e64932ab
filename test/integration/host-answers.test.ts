import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { database } from "../../src/db/client";
import { OPERATOR } from "../../src/fleet/accounts";
import { advanceClock } from "../../src/fleet/clock";
import { Fleet } from "../../src/fleet/context";
import { LAUNCH_MAX_BYTES, MAX_LAUNCH_COUNT, RECORD_BYTES } from "../../src/fleet/limits";
import { ANSWER_EVENT_BYTES, RECORDS_MAX, VM_PAGE_MAX } from "../../src/host/answer";
import { RELAY_SHARDS, relayName } from "../../src/host/event-relay";

import { addHosts, call, freshZone, getInstance, largestTags, launch } from "./helpers";

const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v)).length;

/** The largest host the API allows: 2,048 threads and 16 TiB. */
const LARGEST_HOST = { sockets: 8, coresPerSocket: 128, threadsPerCore: 2, memoryMiB: 16 * 1024 * 1024 };
const LAUNCHES = 5;
const VMS = LAUNCHES * MAX_LAUNCH_COUNT;

// Budgets the answers are held to here, whatever the host holds: a describe is its host
// record, counts and CPU summary; a summary in a page is ids, a state and its threads.
const DESCRIBE_BYTES = 16 * 1024;
const SUMMARY_BYTES = 200;
/** An event without the instance's tags: ids, states, times and the host's use. */
const EVENT_BYTES = 2048;

describe(`a host object's answers on a host of ${VMS} VMs with the largest tags`, () => {
  let hostId = "";
  const ids: string[] = [];

  beforeAll(async () => {
    const zone = freshZone();
    [{ hostId }] = await addHosts(zone, "r5", 1, LARGEST_HOST);
    for (let i = 0; i < LAUNCHES; i++) {
      const res = await launch({
        instanceType: "r5.large",
        availabilityZone: zone,
        minCount: MAX_LAUNCH_COUNT,
        maxCount: MAX_LAUNCH_COUNT,
        tags: largestTags(),
      });
      expect(res.status).toBe(201);
      ids.push(...res.body.instances.map((i) => i.instanceId));
    }
    // Events that carried every record whole would pass the answer budget.
    expect(VMS * bytes({ tags: largestTags() })).toBeGreaterThan(ANSWER_EVENT_BYTES);
  });

  it("describes the host in an answer of its counts, not of its VMs", async () => {
    const res = await env.HOST.getByName(hostId).describe(await new Fleet(env, OPERATOR).clock());
    expect(res.result.vmCount).toBe(VMS);
    expect(bytes(res)).toBeLessThan(DESCRIBE_BYTES);
  });

  it("pages its VMs as summaries, at most VM_PAGE_MAX in an answer, each id once", async () => {
    const stub = env.HOST.getByName(hostId);
    const seen: string[] = [];
    let after: string | null = null;
    do {
      const page = await stub.vmPage(after, 10_000);
      if (!page) throw new Error("no host object");
      expect(page.vms.length).toBeLessThanOrEqual(VM_PAGE_MAX);
      expect(bytes(page)).toBeLessThan(VM_PAGE_MAX * SUMMARY_BYTES);
      seen.push(...page.vms.map((v) => v.instanceId));
      after = page.next;
    } while (after !== null);
    expect(seen).toEqual([...ids].sort());
  });

  it("gives whole records RECORDS_MAX at a time, and refuses to give more", async () => {
    const stub = env.HOST.getByName(hostId);
    const some = await stub.records(ids.slice(0, RECORDS_MAX));
    expect(some?.onHost).toHaveLength(RECORDS_MAX);
    expect(some?.onHost[0].tags).toEqual(largestTags());
    const refused = await stub.records(ids.slice(0, RECORDS_MAX + 1)).then(
      () => "answered",
      (err: Error) => err.message,
    );
    expect(refused).toContain(`at most ${RECORDS_MAX}`);
  });

  it("lists every instance on the host through the API, read a page at a time", async () => {
    const res = await call<{ instances: { instanceId: string }[] }>("GET", `/v1/hosts/${hostId}`);
    expect(res.status).toBe(200);
    expect(res.body.instances.map((i) => i.instanceId).sort()).toEqual([...ids].sort());
  });

  it("answers a settle of every VM in events without their tags, and the asked-about record whole", async () => {
    const subject = ids[ids.length - 1];
    // Every boot falls due in one settle, and nothing has mirrored it to D1.
    const clock = await advanceClock(database(env.DB), env, 60_000);
    const res = await env.HOST.getByName(hostId).settle(clock, subject);
    expect(res.events).toHaveLength(VMS);
    expect(res.eventsOmitted).toBe(0);
    // Only an instance's first event carries its tags: these are a few hundred bytes each.
    expect(res.events.every((e) => e.instance && e.instance.tags === undefined)).toBe(true);
    expect(bytes(res.events)).toBeLessThan(VMS * EVENT_BYTES);
    expect(res.events.some((e) => e.instanceId === subject && e.state === "running")).toBe(true);
    expect(res.result?.state).toBe("running");
    expect(res.result?.tags).toEqual(largestTags());
    // D1 has not heard, but a read asks the host, and its record is the truth.
    expect((await getInstance(subject)).body.state.name).toBe("running");
    expect((await getInstance(subject)).body.tags).toEqual(largestTags());
  });
});

describe("a launch's answer", () => {
  it("carries every instance of the largest launch the byte bound allows, records at their largest", async () => {
    const zone = freshZone();
    await addHosts(zone, "r5", 1, LARGEST_HOST);
    // Three bytes a character: the largest tags there are, about 58 KB an instance.
    const tags = largestTags("€");
    const count = Math.floor(LAUNCH_MAX_BYTES / (bytes(tags) + RECORD_BYTES));
    expect(count).toBeLessThan(MAX_LAUNCH_COUNT);
    const res = await launch({
      instanceType: "r5.large",
      availabilityZone: zone,
      minCount: count,
      maxCount: count,
      tags,
    });
    expect(res.status).toBe(201);
    expect(res.body.instances).toHaveLength(count);
    expect(res.body.instances.every((i) => Object.keys(i.tags).length === 50)).toBe(true);
    expect(bytes(res.body)).toBeLessThan(LAUNCH_MAX_BYTES);
    expect(LAUNCH_MAX_BYTES).toBeLessThan(ANSWER_EVENT_BYTES);
    // Events at their largest leave the host's outbox for the events relay, and the relay
    // sends them on, packed (src/host/event-relay.ts).
    const hostId = res.body.instances[0].hostId!;
    await vi.waitFor(
      async () => {
        expect((await env.HOST.getByName(hostId).reconcileView())?.outboxPending).toBe(0);
        for (let n = 0; n < RELAY_SHARDS; n++) {
          expect(await env.EVENT_RELAY.getByName(relayName(n)).pending()).toBe(0);
        }
      },
      { timeout: 10_000, interval: 100 },
    );
  });
});
