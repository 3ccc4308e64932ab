import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Residency } from "../../../src/host/residency";

describe("an idle host object's model", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("is let go once nobody used it for the idle time, and not before", () => {
    let released = 0;
    const r = new Residency(1000, () => released++);
    r.touch();
    vi.advanceTimersByTime(999);
    r.touch();
    vi.advanceTimersByTime(999);
    expect(released).toBe(0);
    expect(r.released).toBe(false);
    vi.advanceTimersByTime(1);
    expect(released).toBe(1);
    expect(r.released).toBe(true);
  });

  it("is kept for the object's life when the idle time is 0 or not a number", () => {
    for (const idle of [0, Number.NaN]) {
      let released = 0;
      const r = new Residency(idle, () => released++);
      r.touch();
      vi.advanceTimersByTime(24 * 3600 * 1000);
      expect(released).toBe(0);
      expect(r.released).toBe(false);
    }
  });

  it("is not let go while a call is in flight, however long it runs, and is once it settles and the wait passes", async () => {
    let released = 0;
    const r = new Residency(100, () => released++);
    let finish: () => void = () => {};
    const call = r.during(() => new Promise<void>((resolve) => (finish = resolve)));
    r.touch();
    vi.advanceTimersByTime(1000);
    expect(released).toBe(0);
    finish();
    await call;
    vi.advanceTimersByTime(99);
    expect(released).toBe(0);
    vi.advanceTimersByTime(1);
    expect(released).toBe(1);
  });

  it("waits while the object owes a delivery, and lets go once it has none", () => {
    let released = 0;
    let owed = 3;
    const r = new Residency(
      100,
      () => released++,
      () => owed === 0,
    );
    r.touch();
    vi.advanceTimersByTime(500);
    expect(released).toBe(0);
    expect(r.released).toBe(false);
    owed = 0;
    vi.advanceTimersByTime(100);
    expect(released).toBe(1);
  });

  it("settles a failing call as a failure and still lets the object go afterwards", async () => {
    let released = 0;
    const r = new Residency(50, () => released++);
    await expect(r.during(() => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    vi.advanceTimersByTime(50);
    expect(released).toBe(1);
  });
});
