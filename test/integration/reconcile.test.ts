import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { addHosts, advance, call, freshZone, getInstance, launch } from "./helpers";

interface Reconcile {
  hostsChecked: number;
  agree: boolean;
  mismatches: { hostId: string; kind: string; instanceId: string | null; detail: string }[];
  repaired: number;
}

describe("reconcile over a fleet with a host object it cannot read", () => {
  it("reports that host with the reason and reconciles and repairs the others", async () => {
    const zone = freshZone();
    const [broken, sound] = await addHosts(zone, "m5", 2);
    const onSound = (
      await launch({ instanceType: "m5.large", availabilityZone: zone, maxCount: 60, minCount: 60 })
    ).body.instances.find((i) => i.hostId === sound.hostId);
    if (!onSound) throw new Error("expected an instance on the second host");
    await advance(60);
    // Garbage where the host object keeps its host record: it cannot load any more.
    const stub = env.HOST.getByName(broken.hostId);
    await runInDurableObject(stub, (_obj, state) => {
      state.storage.sql.exec("UPDATE meta SET value = 'garbage' WHERE key = 'host'");
    });
    await evictDurableObject(stub);
    // And a lost D1 write on the sound host, for reconcile to find and repair.
    await env.DB.prepare("UPDATE instances SET state = 'pending', state_code = 0 WHERE id = ?")
      .bind(onSound.instanceId)
      .run();

    const report = await call<Reconcile>("POST", "/v1/admin/reconcile", { repair: true });
    expect(report.status).toBe(200);
    expect(report.body.agree).toBe(false);
    const errors = report.body.mismatches.filter((m) => m.kind === "host-error");
    expect(errors.map((m) => m.hostId)).toEqual([broken.hostId]);
    expect(errors[0].detail).toMatch(/JSON|garbage|Unexpected/);
    expect(report.body.mismatches).toContainEqual(
      expect.objectContaining({ hostId: sound.hostId, instanceId: onSound.instanceId, kind: "stale-in-d1" }),
    );
    expect(report.body.repaired).toBe(1);
    expect((await getInstance(onSound.instanceId)).body.state.name).toBe("running");

    // Only the broken host still disagrees; without it, the fleet agrees again.
    const again = await call<Reconcile>("POST", "/v1/admin/reconcile", {});
    expect(again.body.mismatches.map((m) => [m.hostId, m.kind])).toEqual([[broken.hostId, "host-error"]]);
    await env.DB.prepare("DELETE FROM instances WHERE host_id = ?").bind(broken.hostId).run();
    await env.DB.prepare("DELETE FROM hosts WHERE id = ?").bind(broken.hostId).run();
    expect((await call<Reconcile>("POST", "/v1/admin/reconcile", {})).body.agree).toBe(true);
  });
});
