import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { contains, overlaps } from "../../../src/sim/network/ipv4";
import { type Peering, route, type VpcRoute } from "../../../src/sim/network/routing";

const arbVpc = (id: string) =>
  fc.record({
    vpcId: fc.constant(id),
    cidr: fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 16, max: 24 })).map(([hi, prefix]) => {
      const base = (10 * 2 ** 24 + hi * 2 ** 16) >>> 0;
      return { base: base - (base % 2 ** (32 - prefix)), prefix };
    }),
    vni: fc.integer({ min: 1, max: 2 ** 24 - 1 }),
  });

describe("routing between VPCs", () => {
  it("never delivers into a VPC that is neither the sender's nor peered with it", () => {
    fc.assert(
      fc.property(
        arbVpc("vpc-a"),
        fc.array(arbVpc("vpc-x"), { maxLength: 4 }),
        fc.array(fc.boolean(), { maxLength: 4 }),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        (a: VpcRoute, others, peeredFlags, ip) => {
          const vpcs = others.map((v, i) => ({ ...v, vpcId: `vpc-${i}` }));
          // Peerings as EC2 allows them: none with a block overlapping the sender's or another peer's.
          const peers: Peering[] = [];
          vpcs.forEach((v, i) => {
            if (!peeredFlags[i]) return;
            if (overlaps(v.cidr, a.cidr) || peers.some((p) => overlaps(p.vpc.cidr, v.cidr))) return;
            peers.push({ peeringId: `pcx-${i}`, vpc: v });
          });
          const r = route(a, peers, ip);
          if (r.kind === "no-route") {
            expect(contains(a.cidr, ip)).toBe(false);
            expect(r.reason).toMatch(/no route/);
            return;
          }
          const reached = r.vpc.vpcId;
          expect(reached === a.vpcId || peers.some((p) => p.vpc.vpcId === reached)).toBe(true);
          expect(contains(r.vpc.cidr, ip)).toBe(true);
          // The sender's own block always wins.
          if (contains(a.cidr, ip)) expect(r.kind).toBe("local");
        },
      ),
    );
  });
});
