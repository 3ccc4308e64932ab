// Random sequences of writes, storage node failures, heals and resyncs through the API and the real
// objects: no acknowledged write is lost, and a volume's copies stay in distinct racks.
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OPERATOR } from "../../src/fleet/accounts";
import { Fleet } from "../../src/fleet/context";
import { resync } from "../../src/fleet/volume-resync";
import { ADMIN_KEY, bearer, call } from "./helpers";
import { attached, storageZone, type VolumeBody } from "./storage-helpers";

const admin = bearer(ADMIN_KEY);

function block(seed: number): string {
  const b = new Uint8Array(4096);
  for (let i = 0; i < b.length; i++) b[i] = (seed * 97 + i * 3) & 0xff;
  return btoa(String.fromCharCode(...b));
}

type Op =
  | { kind: "write"; n: number; seed: number }
  | { kind: "fail" | "heal"; node: number }
  | { kind: "resync" };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant("write" as const), n: fc.nat(3), seed: fc.nat(10_000) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("fail" as const), node: fc.nat(4) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("heal" as const), node: fc.nat(4) }) },
  { weight: 2, arbitrary: fc.constant({ kind: "resync" as const }) },
);

describe("volume faults", () => {
  it("lose no acknowledged write across random writes, failures, heals and resyncs", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 4, maxLength: 12 }), async (ops) => {
        const { zone, nodes, instanceId } = await storageZone("m5", "m5.large", 5);
        const v = await attached(zone, instanceId);
        const fleet = new Fleet(env, OPERATOR);
        const acked = new Map<number, string>();
        const failed = new Set<string>();
        const volume = async () => (await call<VolumeBody>("GET", `/v1/volumes/${v.volumeId}`)).body;
        for (const o of ops) {
          if (o.kind === "write") {
            const res = await call("PUT", `/v1/volumes/${v.volumeId}/blocks/${o.n}`, { data: block(o.seed) });
            if (res.status === 200) acked.set(o.n, block(o.seed));
          } else if (o.kind === "fail") {
            const node = nodes[o.node];
            const now = await volume();
            const full = now.replicas.filter((r) => r.state === "in-sync" && r.nodeId !== node);
            // Never the last full copy: losing every copy loses data by definition.
            if (failed.has(node) || full.length === 0) continue;
            await call("PUT", `/v1/storage-nodes/${node}/state`, { state: "failed" }, admin);
            failed.add(node);
          } else if (o.kind === "heal") {
            const node = nodes[o.node];
            if (!failed.has(node)) continue;
            await call("PUT", `/v1/storage-nodes/${node}/state`, { state: "available" }, admin);
            failed.delete(node);
          } else {
            await resync(fleet, v.volumeId);
          }
          const now = await volume();
          expect(new Set(now.replicas.map((r) => r.rack)).size).toBe(now.replicas.length);
        }
        await resync(fleet, v.volumeId);
        const end = await volume();
        const full = end.replicas.filter((r) => r.state === "in-sync");
        expect(full.length).toBeGreaterThan(0);
        for (const [n, data] of acked) {
          // Through the API, and on every full copy itself.
          expect(
            (await call<{ data: string }>("GET", `/v1/volumes/${v.volumeId}/blocks/${n}`)).body.data,
          ).toBe(data);
          for (const r of full) {
            const got = await env.STORAGE_NODE.getByName(r.nodeId).read(v.volumeId, n);
            expect(got.ok).toBe(true);
            if (got.ok && got.value)
              expect(btoa(String.fromCharCode(...new Uint8Array(got.value.data)))).toBe(data);
            else expect.unreachable(`copy on ${r.nodeId} lacks block ${n}`);
          }
        }
      }),
      { numRuns: 4 },
    );
  });
});
