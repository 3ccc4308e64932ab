import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

const get = (path: string) => exports.default.fetch(new Request(`http://fleet.test${path}`));

describe("the docs page", () => {
  it("loads its script and styles from the Worker itself, not from another site", async () => {
    const page = await (await get("/docs")).text();
    const refs = [...page.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(refs.some((r) => r.endsWith(".js"))).toBe(true);
    expect(refs.some((r) => r.endsWith(".css"))).toBe(true);
    for (const ref of refs) {
      // A path on this origin, never an absolute or protocol-relative URL.
      expect(ref).toMatch(/^\/[^/]/);
      const res = await get(ref);
      expect(res.status, ref).toBe(200);
      const type = ref.endsWith(".js") ? "text/javascript" : "text/css";
      expect(res.headers.get("content-type"), ref).toContain(type);
      expect((await res.text()).length, ref).toBeGreaterThan(10_000);
    }
  });
});
