// EC2's CreateTags and DeleteTags as one change to a resource's tags (sim/tags.ts).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { applyTagChange } from "../../../src/sim/tags";

describe("a tag change", () => {
  it("adds and overwrites, and removes a key whatever its value or only at the value given", () => {
    const tags = { team: "web", env: "prod", empty: "" };
    expect(applyTagChange(tags, { set: { env: "dev", owner: "ana" }, remove: [] }, 50)).toEqual({
      team: "web",
      env: "dev",
      empty: "",
      owner: "ana",
    });
    // DeleteTags with a value removes the key only when it has that value; "" is a value.
    expect(
      applyTagChange(
        tags,
        {
          set: {},
          remove: [
            ["env", "dev"],
            ["team", null],
            ["empty", ""],
          ],
        },
        50,
      ),
    ).toEqual({
      env: "prod",
    });
  });

  it("is refused when it would pass the limit, never when it does not grow", () => {
    const full = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, "v"]));
    expect(applyTagChange(full, { set: { more: "x" }, remove: [] }, 50)).toBeNull();
    expect(applyTagChange(full, { set: { k1: "y" }, remove: [] }, 50)).toEqual({ ...full, k1: "y" });
    expect(
      Object.keys(applyTagChange(full, { set: { more: "x" }, remove: [["k0", null]] }, 50) ?? {}),
    ).toHaveLength(50);
  });

  it("never loses a key it was not asked to remove, nor keeps one it removed without a value", () => {
    const key = fc.constantFrom<string>("a", "b", "c", "d", "__proto__", "constructor");
    const tags = fc.dictionary(key, fc.string({ maxLength: 3 }));
    fc.assert(
      fc.property(tags, tags, fc.array(key), (before, set, removed) => {
        const after = applyTagChange(before, { set, remove: removed.map((k) => [k, null]) }, 50);
        if (!after) return false;
        for (const k of Object.keys(before))
          if (!removed.includes(k)) expect(Object.hasOwn(after, k)).toBe(true);
        for (const k of removed) expect(Object.hasOwn(after, k)).toBe(false);
        for (const [k, v] of Object.entries(set)) if (!removed.includes(k)) expect(after[k]).toBe(v);
        return true;
      }),
    );
  });
});
