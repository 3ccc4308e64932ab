import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { addHosts, call, freshZone, hostView, launch } from "./helpers";

describe("host alarms on a scaled clock", () => {
  it("settles a boot on the host's own alarm, with nobody calling the host", async () => {
    // At 10,000x a Nitro boot of about 8 s of simulated time is under a millisecond of wall time.
    const set = await call<{ mode: string }>("PUT", "/v1/admin/clock", { mode: "scaled", scale: 10_000 });
    expect(set.body.mode).toBe("scaled");
    const zone = freshZone();
    const [host] = await addHosts(zone, "m5", 1);
    const inst = (await launch({ instanceType: "m5.large", availabilityZone: zone })).body.instances[0];
    expect(inst.state.name).toBe("pending");
    // On a scaled clock wall time is the input: let a few milliseconds (tens of simulated
    // seconds) pass, then run the host's alarm if it has not fired by itself already.
    await new Promise((r) => setTimeout(r, 5));
    await runDurableObjectAlarm(env.HOST.getByName(host.hostId));
    // reconcileView reads without settling anything: only the alarm can have made it running.
    const vm = (await hostView(host.hostId)).vms.find((v) => v.instanceId === inst.instanceId);
    expect(vm?.state).toBe("running");

    await call("PUT", "/v1/admin/clock", { mode: "manual" });
  });
});
