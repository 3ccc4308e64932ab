// What makes a fleet of tens of thousands of hosts possible in one runtime: hosts made in bulk
// are attested in the same pass (their verdicts written with their rows), a host object that
// closed while idle is opened again by the fleet's next call, and reconcile walks the fleet a
// page of hosts at a time.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { hostStub } from "../../src/fleet/host-stub";
import { MAX_RECONCILE_HOSTS } from "../../src/fleet/limits";
import { CLOSED_WHILE_IDLE } from "../../src/host/residency";
import type { ClockState } from "../../src/sim/clock";
import type { HostRecord } from "../../src/sim/records";
import { addHosts, bearer, call, freshZone, hostView, launch, newTenant, type Problem } from "./helpers";

const SMALL_M5 = {
  family: "m5",
  sockets: 1,
  coresPerSocket: 8,
  threadsPerCore: 2,
  memoryMiB: 4 * 16384 + 1024,
};

interface HostBatch {
  created: number;
  hostIds: string[];
}

async function bulk(zone: string, count: number) {
  const res = await call<HostBatch>("POST", "/v1/hosts/bulk", { availabilityZone: zone, count, ...SMALL_M5 });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.hostIds;
}

async function verdicts(hostIds: string[]) {
  const { results } = await env.DB.prepare(
    "SELECT host_id, status, pcr FROM host_attestations WHERE host_id IN (SELECT value FROM json_each(?))",
  )
    .bind(JSON.stringify(hostIds))
    .all<{ host_id: string; status: string; pcr: string }>();
  return new Map(results.map((r) => [r.host_id, r]));
}

interface AllowEntry {
  stage: string;
  digest: string;
  description: string;
}

describe("hosts made in bulk", () => {
  it("are each attested at creation: the verdict is in D1 with the row, judged from the boot the host measured", async () => {
    const hostIds = await bulk(freshZone(), 30);
    const rows = await verdicts(hostIds);
    expect(rows.size).toBe(30);
    for (const id of hostIds) expect(rows.get(id)?.status).toBe("trusted");
    // The recorded PCR is the one the host itself reports for its boot.
    const boot = await call<{ status: string; pcr: string }>("GET", `/v1/hosts/${hostIds[7]}/boot`);
    expect(boot.body).toMatchObject({ status: "trusted", pcr: rows.get(hostIds[7])!.pcr });
  });

  it("are quarantined when their boot is not on the allow-list: placement never uses them and they refuse on their own", async () => {
    const before = await call<{ entries: AllowEntry[] }>("GET", "/v1/admin/boot-allow-list");
    const entries = before.body.entries.map(({ stage, digest, description }) => ({
      stage,
      digest,
      description,
    }));
    // The release's hypervisor builds are withdrawn: a host that boots one fails its check.
    const withdrawn = entries.filter((e) => e.stage !== "hypervisor");
    expect(withdrawn.length).toBeLessThan(entries.length);
    expect((await call("PUT", "/v1/admin/boot-allow-list", { entries: withdrawn })).status).toBe(200);
    try {
      const zone = freshZone();
      const hostIds = await bulk(zone, 6);
      const rows = await verdicts(hostIds);
      for (const id of hostIds) expect(rows.get(id)?.status).toBe("quarantined");
      const tenant = await newTenant("quarantine");
      const res = await launch({ instanceType: "m5.xlarge", availabilityZone: zone }, bearer(tenant.apiKey));
      expect(res.status).toBe(503);
      expect((res.body as unknown as Problem).code).toBe("InsufficientInstanceCapacity");
      // Offered directly, bypassing placement, the host object takes nothing.
      const view = await env.HOST.getByName(hostIds[0]).reconcileView();
      expect(view?.quarantined).toBe(true);
    } finally {
      expect((await call("PUT", "/v1/admin/boot-allow-list", { entries })).status).toBe(200);
    }
  });
});

describe("a host object that closed while idle", () => {
  it("is opened again by the fleet's next call, even through a stub that reached it before it closed", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "m5", 1, SMALL_M5);
    expect((await launch({ instanceType: "m5.xlarge", availabilityZone: zone, maxCount: 2 })).status).toBe(
      201,
    );
    const before = await hostView(host.hostId);
    const held = hostStub(env.HOST, host.hostId);
    const plain = env.HOST.getByName(host.hostId);
    expect((await held.vmPage(null, 10))?.vms).toHaveLength(2);
    expect((await plain.vmPage(null, 10))?.vms).toHaveLength(2);
    // What residency.ts's timer does once the object has been idle long enough: its release.
    await runInDurableObject(plain, (obj) => {
      const shell = obj as unknown as { residency: { release: () => void } };
      setTimeout(() => shell.residency.release(), 0);
    });
    // A stub that reached the object before is refused, and the call never ran...
    await vi.waitFor(
      async () => {
        const refusal = await plain.vmPage(null, 10).then(
          () => null,
          (err: unknown) => err,
        );
        expect(String(refusal)).toContain(CLOSED_WHILE_IDLE);
      },
      { timeout: 3_000, interval: 20 },
    );
    // ...the fleet's stub calls again through a fresh one, which opens the object from storage.
    expect((await held.vmPage(null, 10))?.vms).toHaveLength(2);
    const after = await hostView(host.hostId);
    expect(after.vms).toEqual(before.vms);
    expect(after.usage).toEqual(before.usage);
    // Capacity is still the host's own: two more fit, a third does not.
    expect(
      (await launch({ instanceType: "m5.xlarge", availabilityZone: zone, maxCount: 3 })).body,
    ).toMatchObject({ instances: [{ hostId: host.hostId }, { hostId: host.hostId }] });
  });
});

describe("reconcile a page of hosts at a time", () => {
  interface Page {
    nextHostId: string | null;
    agree: boolean;
    hostsChecked: number;
    mismatches: Array<{ hostId: string; kind: string }>;
  }

  async function walk(limit: number): Promise<Page[]> {
    const pages: Page[] = [];
    let after: string | null = null;
    do {
      const res: { status: number; body: Page } = await call<Page>("POST", "/v1/admin/reconcile", {
        hostLimit: limit,
        ...(after ? { afterHostId: after } : {}),
      });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      pages.push(res.body);
      after = res.body.nextHostId;
    } while (after);
    return pages;
  }

  it("covers every host exactly once, and finds a mismatch on the page of its host only", async () => {
    const hostIds = await bulk(freshZone(), 7);
    const { results } = await env.DB.prepare("SELECT count(*) AS n FROM hosts").all<{ n: number }>();
    const total = results[0].n;
    const whole = await call<Page>("POST", "/v1/admin/reconcile", {});
    expect(whole.body.hostsChecked).toBe(total);
    expect(whole.body.nextHostId).toBeNull();
    const pages = await walk(3);
    expect(pages).toHaveLength(Math.ceil(total / 3));
    expect(pages.reduce((n, p) => n + p.hostsChecked, 0)).toBe(total);
    expect(pages.every((p) => p.agree)).toBe(true);
    // D1 loses track of one host's use: the page holding that host, and no other, says so.
    const bad = hostIds[3];
    await env.DB.prepare("UPDATE hosts SET vm_count = vm_count + 5 WHERE id = ?").bind(bad).run();
    try {
      const again = await walk(3);
      const found = again.filter((p) => !p.agree);
      expect(found).toHaveLength(1);
      expect(found[0].mismatches).toEqual([expect.objectContaining({ hostId: bad, kind: "host-usage" })]);
    } finally {
      await env.DB.prepare("UPDATE hosts SET vm_count = vm_count - 5 WHERE id = ?").bind(bad).run();
    }
  });

  it("refuses a page size out of bounds, or a cursor without one, with a 400 naming the field", async () => {
    for (const hostLimit of [0, MAX_RECONCILE_HOSTS + 1, 2.5]) {
      const res = await call<Problem>("POST", "/v1/admin/reconcile", { hostLimit });
      expect(res.status).toBe(400);
      expect(res.body.detail).toContain("hostLimit");
    }
    const [h] = await bulk(freshZone(), 1);
    const res = await call<Problem>("POST", "/v1/admin/reconcile", { afterHostId: h });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("InvalidParameterValue");
    expect(res.body.detail).toContain("hostLimit");
    expect(res.body.detail).toContain("body.afterHostId");
  });
});

describe("a new host's creation event", () => {
  /** A record and clock for a host object of its own, taken from a host the API made. */
  async function newRecord() {
    const [model] = await bulk(freshZone(), 1);
    return runInDurableObject(env.HOST.getByName(model), (obj) => {
      const shell = obj as unknown as { resident: { host: HostRecord }; clock: ClockState };
      return { host: { ...shell.resident.host, hostId: crypto.randomUUID() }, clock: shell.clock };
    });
  }

  it("waits in the outbox for the fleet's confirmation when asked to, and leaves unsent once confirmed", async () => {
    const { host, clock } = await newRecord();
    const stub = env.HOST.getByName(host.hostId);
    const made = await stub.create(host, clock, 30_000);
    expect(made.events.map((e) => e.type)).toEqual(["host.created"]);
    // Not sent: still in the outbox, with the alarm set for the hold's end (then it goes anyway).
    const pending = (await stub.reconcileView())?.outboxPending;
    const held = await runInDurableObject(stub, async (obj, state) => {
      const shell = obj as unknown as { residency: { quiet: () => boolean } };
      return {
        pending,
        alarmIn: ((await state.storage.getAlarm()) ?? 0) - Date.now(),
        quiet: shell.residency.quiet(),
      };
    });
    expect(held.pending).toBe(1);
    expect(held.alarmIn).toBeGreaterThan(20_000);
    expect(held.alarmIn).toBeLessThanOrEqual(30_000);
    // Held for a confirmation that comes within the request: the object does not close meanwhile.
    expect(held.quiet).toBe(false);
    await stub.mirrored(made.events.map((e) => e.id));
    expect((await stub.reconcileView())?.outboxPending).toBe(0);
    const after = await runInDurableObject(stub, (_obj, state) => state.storage.getAlarm());
    expect(after).toBeNull();
  });

  it("of hosts made in bulk is in D1's event log, and their outboxes are empty with no alarm set", async () => {
    const hostIds = await bulk(freshZone(), 12);
    const { results } = await env.DB.prepare(
      "SELECT host_id FROM events WHERE type = 'host.created' AND host_id IN (SELECT value FROM json_each(?))",
    )
      .bind(JSON.stringify(hostIds))
      .all<{ host_id: string }>();
    expect(new Set(results.map((r) => r.host_id))).toEqual(new Set(hostIds));
    for (const id of hostIds) {
      const stub = env.HOST.getByName(id);
      expect((await stub.reconcileView())?.outboxPending).toBe(0);
      expect(await runInDurableObject(stub, (_obj, state) => state.storage.getAlarm())).toBeNull();
    }
  });
});

describe("a host whose events the queue refused", () => {
  it("may close while idle: no delivery is in flight, and its alarm is set for the retry", async () => {
    const [hostId] = await bulk(freshZone(), 1);
    const stub = env.HOST.getByName(hostId);
    await runInDurableObject(stub, (obj) => {
      const shell = obj as unknown as { outbox: { queue: Queue } };
      shell.outbox.queue = {
        sendBatch: () => Promise.reject(new Error("max active timeouts")),
      } as unknown as Queue;
    });
    expect((await call("PUT", `/v1/hosts/${hostId}/state`, { state: "maintenance" })).status).toBe(200);
    await vi.waitFor(
      async () => {
        const seen = await runInDurableObject(stub, async (obj, state) => {
          const shell = obj as unknown as {
            residency: { quiet: () => boolean };
            outbox: { busy: boolean; pending: () => number; nextAttemptAt: () => number };
          };
          return {
            pending: shell.outbox.pending(),
            busy: shell.outbox.busy,
            quiet: shell.residency.quiet(),
            alarm: await state.storage.getAlarm(),
            retryAt: shell.outbox.nextAttemptAt(),
          };
        });
        expect(seen.pending).toBeGreaterThan(0);
        expect(seen.busy).toBe(false);
        expect(seen.quiet).toBe(true);
        expect(seen.alarm).toBe(seen.retryAt);
      },
      { timeout: 3_000, interval: 20 },
    );
  });
});
