import { describe, expect, it } from "vitest";
import { OUTBOX_RETRY_MAX_MS, OUTBOX_RETRY_MS, retryDelay } from "../../../src/host/outbox";

describe("the outbox's wait before retrying a delivery", () => {
  it("doubles with each failure in a row, from OUTBOX_RETRY_MS, capped at OUTBOX_RETRY_MAX_MS", () => {
    const top = [1, 2, 3, 4, 5, 6, 7, 8, 20, 1000].map((n) => retryDelay(n, 1 - Number.EPSILON));
    expect(top.slice(0, 5).map((ms) => Math.round(ms / 1000))).toEqual([5, 10, 20, 40, 80]);
    for (let i = 1; i < top.length; i++) expect(top[i]).toBeGreaterThanOrEqual(top[i - 1]);
    expect(top.at(-1)).toBe(OUTBOX_RETRY_MAX_MS);
    expect(retryDelay(0)).toBe(OUTBOX_RETRY_MS);
  });

  it("is jittered over the upper half of the wait, so hosts refused together come back apart", () => {
    for (const failures of [1, 3, 9]) {
      const full = Math.min(OUTBOX_RETRY_MAX_MS, OUTBOX_RETRY_MS * 2 ** (failures - 1));
      expect(retryDelay(failures, 0)).toBe(full / 2);
      expect(retryDelay(failures, 0.5)).toBe((3 * full) / 4);
      const spread = new Set(Array.from({ length: 50 }, () => retryDelay(failures)));
      expect(spread.size).toBeGreaterThan(10);
      for (const ms of spread) {
        expect(ms).toBeGreaterThanOrEqual(full / 2);
        expect(ms).toBeLessThanOrEqual(full);
      }
    }
  });
});
