// /docs in a real browser with no way off the machine: headless Chromium (Debian's
// `chromium` package) driven by playwright-core, every request to another host aborted.
import { execFileSync } from "node:child_process";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

const base = inject("httpBase");
const METHODS = new Set(["get", "put", "post", "delete", "patch", "head", "options", "trace"]);

function chromiumPath(): string {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  try {
    return execFileSync("sh", ["-c", "command -v chromium || command -v chromium-browser"], {
      encoding: "utf8",
    }).trim();
  } catch {
    throw new Error(
      "no chromium on PATH: install Debian's package (apt-get install -y chromium) or set CHROMIUM_PATH",
    );
  }
}

const isLoopback = (url: URL) => ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);

let browser: Browser;

describe("the docs page in a browser without internet", () => {
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: chromiumPath(), headless: true });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it("renders every operation of the OpenAPI document from the Worker's own assets", async () => {
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
      webhooks?: Record<string, Record<string, unknown>>;
    };
    // The webhooks the document describes are operations too: Swagger UI renders each one.
    const operations = [...Object.values(doc.paths), ...Object.values(doc.webhooks ?? {})].flatMap((item) =>
      Object.keys(item).filter((k) => METHODS.has(k)),
    );
    expect(operations.length).toBeGreaterThan(10);

    const context = await browser.newContext();
    const blocked: string[] = [];
    const served: string[] = [];
    await context.route("**/*", (route) => {
      const url = new URL(route.request().url());
      if (url.protocol === "data:" || url.protocol === "blob:") return route.continue();
      if (!isLoopback(url)) {
        blocked.push(url.href);
        return route.abort("internetdisconnected");
      }
      served.push(url.pathname);
      return route.continue();
    });
    const page = await context.newPage();
    const failed: string[] = [];
    page.on("requestfailed", (req) => failed.push(req.url()));
    await page.goto(`${base}/docs`);
    // Swagger UI renders one .opblock per operation once it has fetched and parsed the document.
    const opblocks = page.locator(".opblock");
    await opblocks.nth(operations.length - 1).waitFor({ timeout: 30_000 });
    expect(await opblocks.count()).toBe(operations.length);
    // Styled by its stylesheet: an operation block is laid out as a bordered box.
    const border = await page.evaluate("getComputedStyle(document.querySelector('.opblock')).borderStyle");
    expect(border).toBe("solid");
    expect(blocked).toEqual([]);
    expect(failed).toEqual([]);
    expect(served).toEqual(expect.arrayContaining(["/docs", "/openapi.json"]));
    await context.close();
  });
});
