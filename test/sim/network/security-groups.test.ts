import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MapFlowTable, UDP_STREAM_TIMEOUT_S, UDP_TIMEOUT_S } from "../../../src/sim/network/conntrack";
import { parseCidr, parseIp } from "../../../src/sim/network/ipv4";
import type { PacketProtocol, SgRule } from "../../../src/sim/network/security-group";
import { type Datagram, type SwitchPort, VirtualSwitch } from "../../../src/sim/network/vswitch";

const A_IP = parseIp("10.0.0.10")!;
const B_IP = parseIp("10.0.0.20")!;

function port(eniId: string, ip: number, rules: SgRule[]): SwitchPort {
  return { eniId, instanceId: `i-${eniId}`, ip, vpcId: "vpc-1", vni: 7, groupIds: ["sg-a"], rules };
}

const rule = (over: Partial<SgRule>): SgRule => ({
  ruleId: "sgr-1",
  groupId: "sg-a",
  direction: "ingress",
  protocol: "tcp",
  fromPort: 0,
  toPort: 65535,
  cidr: parseCidr("0.0.0.0/0"),
  peerGroupId: null,
  ...over,
});

const arbRule = fc.record({
  ruleId: fc.constantFrom("sgr-1", "sgr-2", "sgr-3"),
  groupId: fc.constantFrom("sg-a", "sg-b"),
  direction: fc.constantFrom("ingress" as const, "egress" as const),
  protocol: fc.constantFrom("tcp" as const, "udp" as const, "icmp" as const, "all" as const),
  fromPort: fc.integer({ min: 0, max: 1000 }),
  toPort: fc.integer({ min: 0, max: 65535 }),
  cidr: fc.constantFrom(parseCidr("0.0.0.0/0"), parseCidr("10.0.0.0/24"), parseCidr("192.168.0.0/16")),
  peerGroupId: fc.constant(null),
});

const arbDatagram = fc.record({
  protocol: fc.constantFrom<PacketProtocol>("tcp", "udp", "icmp"),
  srcPort: fc.integer({ min: 1024, max: 65535 }),
  dstPort: fc.integer({ min: 1, max: 2000 }),
});

const reply = (d: Datagram): Datagram => ({
  protocol: d.protocol,
  srcIp: d.dstIp,
  srcPort: d.dstPort,
  dstIp: d.srcIp,
  dstPort: d.srcPort,
});

describe("security groups at the virtual switch", () => {
  it("are stateful: the reply to a flow a port let out is let in, whatever its inbound rules", () => {
    fc.assert(
      fc.property(fc.array(arbRule, { maxLength: 6 }), arbDatagram, fc.nat(1000), (rules, g, t) => {
        const sw = new VirtualSwitch("h-a", new MapFlowTable());
        const a = port("eni-a", A_IP, rules);
        const out: Datagram = { ...g, srcIp: A_IP, dstIp: B_IP };
        const v = sw.egress(a, out, [], t);
        const back = sw.ingress(a, reply(out), [], t + 1000);
        if (v.allowed) {
          expect(back.allowed).toBe(true);
        }
        // Without the outbound packet the same inbound one is judged by the inbound rules alone.
        const fresh = new VirtualSwitch("h-a", new MapFlowTable());
        const unsolicited = fresh.ingress(a, reply(out), [], t + 1000);
        const anyInbound = rules.some((r) => r.direction === "ingress");
        if (!anyInbound)
          expect(unsolicited).toMatchObject({ allowed: false, decidedBy: { kind: "no-rule" } });
      }),
    );
  });

  it("drop unsolicited inbound traffic no rule allows, and name the rule that allowed what passed", () => {
    const sw = new VirtualSwitch("h-a", new MapFlowTable());
    const a = port("eni-a", A_IP, [
      rule({ ruleId: "sgr-out", direction: "egress", protocol: "all" }),
      rule({ ruleId: "sgr-ssh", fromPort: 22, toPort: 22, cidr: parseCidr("10.0.0.0/24") }),
    ]);
    const web: Datagram = { protocol: "tcp", srcIp: B_IP, srcPort: 40000, dstIp: A_IP, dstPort: 80 };
    expect(sw.ingress(a, web, [], 0)).toEqual({
      allowed: false,
      direction: "ingress",
      decidedBy: { kind: "no-rule" },
    });
    const ssh = { ...web, dstPort: 22 };
    expect(sw.ingress(a, ssh, [], 0).decidedBy).toEqual({ kind: "rule", ruleId: "sgr-ssh", groupId: "sg-a" });
    // The reply to the allowed ssh flow leaves as a tracked flow, not by the egress rule.
    expect(sw.egress(a, reply(ssh), [], 1).decidedBy).toEqual({ kind: "tracked" });
  });

  it("forget an idle UDP flow after 30 s, or 180 s once it has been a stream", () => {
    const sw = new VirtualSwitch("h-a", new MapFlowTable());
    const a = port("eni-a", A_IP, [rule({ ruleId: "sgr-out", direction: "egress", protocol: "all" })]);
    const out: Datagram = { protocol: "udp", srcIp: A_IP, srcPort: 5000, dstIp: B_IP, dstPort: 53 };
    sw.egress(a, out, [], 0);
    expect(sw.ingress(a, reply(out), [], UDP_TIMEOUT_S * 1000 + 1).allowed).toBe(false);
    sw.egress(a, out, [], 100_000);
    expect(sw.ingress(a, reply(out), [], 100_000 + UDP_TIMEOUT_S * 1000 - 1).allowed).toBe(true);
    // Seen both ways now: a stream, kept for 180 s.
    const at = 100_000 + UDP_TIMEOUT_S * 1000 - 1;
    expect(sw.ingress(a, reply(out), [], at + UDP_STREAM_TIMEOUT_S * 1000 - 1).allowed).toBe(true);
  });

  it("match a rule whose peer is a group by the other end's membership", () => {
    const sw = new VirtualSwitch("h-a", new MapFlowTable());
    const a = port("eni-a", A_IP, [rule({ ruleId: "sgr-g", cidr: null, peerGroupId: "sg-web" })]);
    const d: Datagram = { protocol: "tcp", srcIp: B_IP, srcPort: 40000, dstIp: A_IP, dstPort: 5432 };
    expect(sw.ingress(a, d, ["sg-other"], 0).allowed).toBe(false);
    expect(sw.ingress(a, d, ["sg-web"], 0).allowed).toBe(true);
  });
});
