// CloudWatch's M-of-N alarm rule and its missing-data treatments, on values with known answers.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { matchesType } from "../../../src/events/types";
import { breaches, decide } from "../../../src/fleet/alarms-evaluate";
import { percentile } from "../../../src/fleet/metrics";

const rule = { comparison: "GreaterThanThreshold" as const, threshold: 50, datapointsToAlarm: 2 };

describe("an alarm's evaluation", () => {
  it("goes to ALARM when M of the last N datapoints breach, and to OK when fewer do", () => {
    expect(decide([60, 70, 10], { ...rule, treatMissing: "missing" })?.state).toBe("ALARM");
    expect(decide([60, 10, 10], { ...rule, treatMissing: "missing" })?.state).toBe("OK");
    expect(decide([50, 50, 50], { ...rule, treatMissing: "missing" })?.state).toBe("OK");
    expect(
      decide([50, 50], { ...rule, comparison: "GreaterThanOrEqualToThreshold", treatMissing: "missing" })
        ?.state,
    ).toBe("ALARM");
  });

  it("treats missing data as asked: missing, breaching, not breaching, or ignored", () => {
    const gaps = [null, 60, null];
    expect(decide(gaps, { ...rule, treatMissing: "missing" })?.state).toBe("OK");
    expect(decide(gaps, { ...rule, treatMissing: "breaching" })?.state).toBe("ALARM");
    expect(decide(gaps, { ...rule, treatMissing: "notBreaching" })?.state).toBe("OK");
    expect(decide(gaps, { ...rule, treatMissing: "ignore" })?.state).toBe("OK");
    const none = [null, null, null];
    expect(decide(none, { ...rule, treatMissing: "missing" })?.state).toBe("INSUFFICIENT_DATA");
    expect(decide(none, { ...rule, treatMissing: "ignore" })).toBeNull();
    expect(decide(none, { ...rule, treatMissing: "breaching" })?.state).toBe("ALARM");
    expect(decide(none, { ...rule, treatMissing: "notBreaching" })?.state).toBe("OK");
  });

  it("counts breaches as the comparison defines them, whatever the values", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 10 }),
        (vals) => {
          const m = Math.ceil(vals.length / 2);
          const out = decide(vals, {
            comparison: "LessThanThreshold",
            threshold: 0,
            datapointsToAlarm: m,
            treatMissing: "missing",
          });
          const below = vals.filter((v) => v < 0).length;
          expect(out?.state).toBe(below >= m ? "ALARM" : "OK");
          expect(breaches(0, "LessThanOrEqualToThreshold", 0)).toBe(true);
        },
      ),
    );
  });
});

describe("a percentile", () => {
  it("lies between the closest ranks and is the minimum at p0 and the maximum at p100", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 50 }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        (vals, p) => {
          const v = [...vals].sort((a, b) => a - b);
          const x = percentile(v, p);
          const rank = (p / 100) * (v.length - 1);
          expect(x).toBeGreaterThanOrEqual(v[Math.floor(rank)] - 1e-6);
          expect(x).toBeLessThanOrEqual(v[Math.ceil(rank)] + 1e-6);
          expect(percentile(v, 0)).toBe(v[0]);
          expect(percentile(v, 100)).toBe(v[v.length - 1]);
        },
      ),
    );
    // The median of an even count: halfway between the middle two.
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([10, 20, 30, 40, 50], 90)).toBe(46);
  });
});

describe("an event type pattern", () => {
  it("matches a type exactly, by a prefix and .*, or by *", () => {
    expect(matchesType("instance.state-changed", ["instance.*"])).toBe(true);
    expect(matchesType("instance.state-changed", ["instance.state-changed"])).toBe(true);
    expect(matchesType("host.created", ["instance.*"])).toBe(false);
    expect(matchesType("host.created", ["*"])).toBe(true);
    expect(matchesType("instances.x", ["instance.*"])).toBe(false);
  });
});
