// The limits the document promises, kept by the code that builds answers and records.
import { Hono } from "hono";
import { describe, expect, it, vi } from "vitest";
import { describeIssues, problem } from "../../src/api/problem";
import { MAX_DETAIL, MAX_FIELD_PATH, Problem, Rack, Zone } from "../../src/api/schemas";
import { defaultRack } from "../../src/fleet/hosts";
import { RACK_MAX_LENGTH } from "../../src/fleet/limits";

describe("a host's default rack", () => {
  it("is the zone's first rack, within the rack's limit however long the zone", () => {
    expect(defaultRack("us-east-1a")).toBe("us-east-1a-rack-1");
    for (const length of [32, 57, 58, 100, 60_000]) {
      const rack = defaultRack("z".repeat(length));
      expect(rack.length).toBeLessThanOrEqual(RACK_MAX_LENGTH);
      expect(rack.endsWith("-rack-1")).toBe(true);
    }
    // Every zone the API takes names a rack the API would take too.
    const longest = "zz-abcdefgh-abcdefg-1a";
    expect(Zone.safeParse(longest).success).toBe(true);
    expect(Rack.safeParse(defaultRack(longest)).success).toBe(true);
  });
});

describe("problem details", () => {
  async function answer(detail: string, extra: Record<string, unknown>) {
    const app = new Hono().get("/", (c) => problem(c, 409, "IncorrectInstanceState", detail, extra));
    const res = await app.request("/");
    return (await res.json()) as Record<string, unknown>;
  }

  it("keep to the Problem schema: a long detail is cut, undocumented members are left out and logged", async () => {
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    const body = await answer("d".repeat(10_000), {
      instanceId: "i-0123456789abcdef0",
      state: "stopped, changing",
      internal: { secret: true },
    });
    expect(String(body.detail)).toHaveLength(MAX_DETAIL);
    expect(body.instanceId).toBe("i-0123456789abcdef0");
    expect(body).not.toHaveProperty("internal");
    expect(log).toHaveBeenCalledWith(expect.stringContaining("outside the Problem schema"), "internal");
    expect(Problem.strict().safeParse(body).success).toBe(true);
    log.mockRestore();
  });

  it("name each faulty field once, at most 256 characters long, and count what they do not list", () => {
    const issues = Array.from({ length: 30 }, (_, i) => ({
      code: "custom" as const,
      path: ["tags", `${"k".repeat(400)}${i}`],
      message: "bad",
      input: null,
    }));
    const twice = [...issues, ...issues];
    const { detail, fields } = describeIssues("json", twice);
    expect(fields).toHaveLength(30);
    for (const f of fields) expect(f.length).toBeLessThanOrEqual(MAX_FIELD_PATH);
    expect(fields[7]).toMatch(/^body\.tags\.k+…k+7$/);
    expect(detail).toContain("and 50 more");
  });
});
