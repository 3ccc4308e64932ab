import { env } from "cloudflare:workers";
import { expect, it } from "vitest";

it("reaches a host object", async () => {
  expect(await env.HOST.getByName("x").ping()).toBe("pong");
});
