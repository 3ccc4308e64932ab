import { describe, expect, it } from "vitest";
import { call } from "./helpers";

interface ClockBody {
  mode: string;
  scale: number;
  nowMs: number;
}

const now = async () => (await call<ClockBody>("GET", "/v1/clock")).body.nowMs;

/** Ten advances of `seconds` each, every one sent together with a change of the clock's settings. */
async function advanceBeside(seconds: number, change: Record<string, unknown>) {
  const sent = Array.from({ length: 10 }, () => [
    call<ClockBody>("POST", "/v1/admin/clock/advance", { seconds }),
    call<ClockBody>("PUT", "/v1/admin/clock", change),
  ]).flat();
  return Promise.all(sent);
}

describe("concurrent changes of the simulated clock", () => {
  it("takes every advance exactly once while switches to manual run beside it", async () => {
    await call("PUT", "/v1/admin/clock", { mode: "manual" });
    const before = await now();
    const answers = await advanceBeside(100, { mode: "manual" });
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect((await now()) - before).toBe(10 * 100 * 1000);
  });

  it("takes every advance exactly once while scale changes run beside it", async () => {
    await call("PUT", "/v1/admin/clock", { mode: "manual" });
    const before = await now();
    const answers = await advanceBeside(7, { scale: 3 });
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect((await now()) - before).toBe(10 * 7 * 1000);
    expect((await call<ClockBody>("GET", "/v1/clock")).body).toMatchObject({ mode: "manual", scale: 3 });
  });

  it("keeps time continuous across a switch from scaled to manual", async () => {
    await call("PUT", "/v1/admin/clock", { mode: "manual" });
    const start = await now();
    const wallBefore = Date.now();
    const scaled = await call<ClockBody>("PUT", "/v1/admin/clock", { mode: "scaled", scale: 1000 });
    // Time runs on from where it stood (a millisecond of wall time is a simulated second here).
    expect(scaled.body.nowMs).toBeGreaterThanOrEqual(start);
    // Let some wall time pass, so the scaled clock has moved when it is stopped.
    await new Promise((r) => setTimeout(r, 20));
    const stopped = await call<ClockBody>("PUT", "/v1/admin/clock", { mode: "manual", scale: 1 });
    expect(stopped.body.mode).toBe("manual");
    expect(stopped.body.nowMs).toBeGreaterThan(start);
    expect(stopped.body.nowMs - start).toBeLessThanOrEqual((Date.now() - wallBefore + 1) * 1000);
    // Stopped means stopped: the time the switch answered is the time from then on.
    expect(await now()).toBe(stopped.body.nowMs);
  });
});
