import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MapFlowTable } from "../../../src/sim/network/conntrack";
import { type Cidr, contains, parseCidr, parseIp } from "../../../src/sim/network/ipv4";
import {
  CATCH_ALL_RULE_NUMBER,
  crossSubnets,
  defaultEntries,
  evaluateNacl,
  MAX_RULE_NUMBER,
  type NaclEntry,
  type SubnetEdge,
} from "../../../src/sim/network/network-acl";
import type { PacketProtocol, SgRule } from "../../../src/sim/network/security-group";
import { type Datagram, type SwitchPort, VirtualSwitch, viewIn } from "../../../src/sim/network/vswitch";

const A_IP = parseIp("10.0.1.10")!;
const B_IP = parseIp("10.0.2.20")!;
const ANY = parseCidr("0.0.0.0/0")!;

const reply = (d: Datagram): Datagram => ({
  protocol: d.protocol,
  srcIp: d.dstIp,
  srcPort: d.dstPort,
  dstIp: d.srcIp,
  dstPort: d.srcPort,
});

const entry = (over: Partial<NaclEntry>): NaclEntry => ({
  ruleNumber: 100,
  direction: "ingress",
  protocol: "all",
  fromPort: 0,
  toPort: 65535,
  cidr: ANY,
  action: "allow",
  ...over,
});

const arbCidr = fc.constantFrom<Cidr>(
  ANY,
  parseCidr("10.0.1.0/24")!,
  parseCidr("10.0.2.0/24")!,
  parseCidr("192.168.0.0/16")!,
);
const arbEntry = fc.record({
  ruleNumber: fc.integer({ min: 1, max: MAX_RULE_NUMBER }),
  direction: fc.constantFrom("ingress" as const, "egress" as const),
  protocol: fc.constantFrom("tcp" as const, "udp" as const, "icmp" as const, "all" as const),
  fromPort: fc.integer({ min: 0, max: 2000 }),
  toPort: fc.integer({ min: 0, max: 65535 }),
  cidr: arbCidr,
  action: fc.constantFrom("allow" as const, "deny" as const),
});
/** Entries with numbers unique per direction, as the store keeps them. */
const arbEntries = fc
  .array(arbEntry, { maxLength: 12 })
  .map((es) =>
    es.filter(
      (e, i) => es.findIndex((f) => f.direction === e.direction && f.ruleNumber === e.ruleNumber) === i,
    ),
  );
const arbDatagram = fc.record({
  protocol: fc.constantFrom<PacketProtocol>("tcp", "udp", "icmp"),
  srcPort: fc.integer({ min: 1024, max: 65535 }),
  dstPort: fc.integer({ min: 1, max: 2000 }),
});

/** An independent reading of the guide: sort by number, take the first whose every field matches. */
function reference(entries: NaclEntry[], direction: "ingress" | "egress", d: Datagram) {
  const peer = direction === "ingress" ? d.srcIp : d.dstIp;
  const sorted = [...entries].sort((a, b) => a.ruleNumber - b.ruleNumber);
  for (const e of sorted) {
    if (e.direction !== direction) continue;
    if (e.protocol !== "all" && e.protocol !== d.protocol) continue;
    if ((e.protocol === "tcp" || e.protocol === "udp") && (d.dstPort < e.fromPort || d.dstPort > e.toPort))
      continue;
    if (!contains(e.cidr, peer)) continue;
    return { ruleNumber: e.ruleNumber, action: e.action };
  }
  return { ruleNumber: CATCH_ALL_RULE_NUMBER, action: "deny" };
}

describe("network ACLs", () => {
  it("decide by the lowest-numbered matching rule, whatever order the rules are listed in", () => {
    fc.assert(
      fc.property(
        arbEntries,
        arbDatagram,
        fc.constantFrom("ingress" as const, "egress" as const),
        (entries, g, dir) => {
          const d: Datagram = { ...g, srcIp: A_IP, dstIp: B_IP };
          const view =
            dir === "egress"
              ? { protocol: d.protocol, localPort: d.srcPort, remoteIp: d.dstIp, remotePort: d.dstPort }
              : viewIn(d);
          const got = evaluateNacl(entries, dir, view);
          const reversed = evaluateNacl([...entries].reverse(), dir, view);
          expect({ ruleNumber: got.ruleNumber, action: got.action }).toEqual(reference(entries, dir, d));
          expect(reversed).toEqual(got);
        },
      ),
    );
  });

  it("let a lower-numbered deny win over a higher-numbered allow, and the other way round", () => {
    const web: Datagram = { protocol: "tcp", srcIp: A_IP, srcPort: 40000, dstIp: B_IP, dstPort: 80 };
    const deny90 = entry({ ruleNumber: 90, action: "deny", protocol: "tcp", fromPort: 80, toPort: 80 });
    const allow100 = entry({ ruleNumber: 100 });
    expect(evaluateNacl([allow100, deny90], "ingress", viewIn(web))).toEqual({
      kind: "rule",
      ruleNumber: 90,
      action: "deny",
    });
    const deny110 = { ...deny90, ruleNumber: 110 };
    expect(evaluateNacl([deny110, allow100], "ingress", viewIn(web))).toEqual({
      kind: "rule",
      ruleNumber: 100,
      action: "allow",
    });
    // No numbered rule matches: the catch-all denies.
    expect(evaluateNacl([], "ingress", viewIn(web))).toEqual({
      kind: "catch-all",
      ruleNumber: 32767,
      action: "deny",
    });
  });

  it("are stateless: a reply is dropped by an ACL that does not allow it, even where the security group lets it in as tracked", () => {
    const sgRules: SgRule[] = [
      {
        ruleId: "sgr-out",
        groupId: "sg-a",
        direction: "egress",
        protocol: "all",
        fromPort: 0,
        toPort: 65535,
        cidr: ANY,
        peerGroupId: null,
      },
      {
        ruleId: "sgr-in",
        groupId: "sg-b",
        direction: "ingress",
        protocol: "all",
        fromPort: 0,
        toPort: 65535,
        cidr: ANY,
        peerGroupId: null,
      },
    ];
    const port = (eniId: string, ip: number, groupId: string): SwitchPort => ({
      eniId,
      instanceId: `i-${eniId}`,
      ip,
      vpcId: "vpc-1",
      vni: 7,
      groupIds: [groupId],
      rules: sgRules.filter((r) => r.groupId === groupId),
    });
    fc.assert(
      fc.property(arbEntries, arbEntries, arbDatagram, (aEntries, bEntries, g) => {
        const a: SubnetEdge = { subnetId: "subnet-a", aclId: "acl-a", entries: aEntries };
        const b: SubnetEdge = { subnetId: "subnet-b", aclId: "acl-b", entries: bEntries };
        const out: Datagram = { ...g, srcIp: A_IP, dstIp: B_IP };
        const sw = new VirtualSwitch("h-a", new MapFlowTable());
        const aPort = port("eni-a", A_IP, "sg-a");
        // A's security group lets the request out (and tracks it), so it lets the reply in.
        expect(sw.egress(aPort, out, [], 0).allowed).toBe(true);
        const sgBack = sw.ingress(aPort, reply(out), [], 1000);
        expect(sgBack).toMatchObject({ allowed: true, decidedBy: { kind: "tracked" } });
        // The ACLs judge the reply by their own rules alone: what let the request through counts for nothing.
        const back = crossSubnets(b, a, reply(out));
        const expected =
          reference(bEntries, "egress", reply(out)).action === "allow" &&
          reference(aEntries, "ingress", reply(out)).action === "allow";
        expect(back.crosses && back.allowed).toBe(expected);
      }),
    );
  });

  it("drop a reply to an allowed request when only the request's port is open inbound", () => {
    const a: SubnetEdge = {
      subnetId: "subnet-a",
      aclId: "acl-a",
      entries: [
        entry({ direction: "egress", ruleNumber: 100 }),
        entry({ ruleNumber: 100, protocol: "tcp", fromPort: 22, toPort: 22 }),
      ],
    };
    const b: SubnetEdge = { subnetId: "subnet-b", aclId: "acl-b", entries: defaultEntries() };
    const req: Datagram = { protocol: "tcp", srcIp: A_IP, srcPort: 40000, dstIp: B_IP, dstPort: 80 };
    const there = crossSubnets(a, b, req);
    expect(there).toMatchObject({
      crosses: true,
      allowed: true,
      outbound: { aclId: "acl-a", decidedBy: { ruleNumber: 100 } },
    });
    const back = crossSubnets(b, a, reply(req));
    expect(back).toMatchObject({
      crosses: true,
      allowed: false,
      outbound: { aclId: "acl-b", allowed: true },
      inbound: { aclId: "acl-a", allowed: false, decidedBy: { kind: "catch-all", ruleNumber: 32767 } },
    });
  });

  it("do not judge traffic between two interfaces of one subnet", () => {
    const deny: SubnetEdge = { subnetId: "subnet-a", aclId: "acl-a", entries: [] };
    const d: Datagram = { protocol: "udp", srcIp: A_IP, srcPort: 5000, dstIp: A_IP + 1, dstPort: 53 };
    expect(crossSubnets(deny, deny, d)).toEqual({ crosses: false });
    expect(crossSubnets(deny, { ...deny, subnetId: "subnet-b" }, d)).toMatchObject({
      crosses: true,
      allowed: false,
    });
  });
});
