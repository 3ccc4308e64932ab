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
});
