import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { SendAnswer } from "../../src/fleet/network-send";
import { SINGLE_FLOW_GBPS } from "../../src/sim/network/path";
import {
  addHosts,
  advance,
  bearer,
  call,
  freshZone,
  launch,
  newTenant,
  type Problem,
  type Tenant,
} from "./helpers";

interface Eni {
  networkInterfaceId: string;
  instanceId: string;
  subnetId: string;
  vpcId: string;
  macAddress: string;
  privateIpAddress: string;
  securityGroupIds: string[];
}

const as = (t: Tenant) => bearer(t.apiKey);

async function running(t: Tenant, body: Record<string, unknown>) {
  const res = await launch(body, as(t));
  if (res.status !== 201) throw new Error(`launch failed: ${JSON.stringify(res.body)}`);
  await advance(120);
  return res.body.instances;
}

async function eniOf(t: Tenant, instanceId: string): Promise<Eni> {
  const res = await call<{ networkInterfaces: Eni[] }>(
    "GET",
    `/v1/network-interfaces?instanceId=${instanceId}`,
    undefined,
    as(t),
  );
  expect(res.status).toBe(200);
  expect(res.body.networkInterfaces).toHaveLength(1);
  return res.body.networkInterfaces[0];
}

async function send(t: Tenant, from: string, body: Record<string, unknown>) {
  return call<SendAnswer & Problem>("POST", `/v1/instances/${from}/network/send`, body, as(t));
}

async function post<T>(t: Tenant, path: string, body: unknown) {
  const res = await call<T & Problem>("POST", path, body, as(t));
  if (res.status >= 300) throw new Error(`${path}: ${JSON.stringify(res.body)}`);
  return res.body;
}

describe("networking", () => {
  it("gives each launched instance an interface in the default VPC, with a MAC and an address no other holds", async () => {
    const t = await newTenant("net-default");
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const [a, b, c] = await running(t, {
      instanceType: "m5.large",
      availabilityZone: zone,
      minCount: 3,
      maxCount: 3,
    });
    const enis = await Promise.all([a, b, c].map((i) => eniOf(t, i.instanceId)));
    expect(new Set(enis.map((e) => e.privateIpAddress)).size).toBe(3);
    for (const e of enis) {
      expect(e.privateIpAddress).toMatch(/^172\.31\./);
      expect(e.macAddress).toMatch(/^[0-9a-f][26ae](:[0-9a-f]{2}){5}$/);
    }
    const vpcs = await call<{ vpcs: { vpcId: string; isDefault: boolean; cidrBlock: string }[] }>(
      "GET",
      "/v1/vpcs",
      undefined,
      as(t),
    );
    expect(vpcs.body.vpcs).toEqual([
      expect.objectContaining({ isDefault: true, cidrBlock: "172.31.0.0/16" }),
    ]);
    const subnet = await call<{ cidrBlock: string; availableIpAddressCount: number }>(
      "GET",
      `/v1/subnets/${enis[0].subnetId}`,
      undefined,
      as(t),
    );
    // A default subnet is a /20: 4,096 addresses, 5 reserved, 3 taken.
    expect(subnet.body).toMatchObject({
      cidrBlock: expect.stringMatching(/\/20$/),
      availableIpAddressCount: 4096 - 5 - 3,
    });
  });

  it("switches a send between two instances of one host in its virtual switch, and across hosts over the overlay with the VPC's VNI", async () => {
    const t = await newTenant("net-paths");
    const zone = freshZone();
    await addHosts(zone, "m5", 1, { rack: `${zone}-r1` });
    const [a, b] = await running(t, {
      instanceType: "m5.large",
      availabilityZone: zone,
      minCount: 2,
      maxCount: 2,
    });
    expect(a.hostId).toBe(b.hostId);
    const local = await send(t, a.instanceId, {
      destination: { instanceId: b.instanceId },
      protocol: "tcp",
      port: 443,
      bytes: 10_000_000,
    });
    expect(local.status).toBe(200);
    expect(local.body.delivered).toBe(true);
    expect(local.body.path).toMatchObject({ kind: "vswitch", vni: null });
    expect(local.body.path!.hops.join(" | ")).toMatch(/Nitro card's virtual switch/);
    // Default groups let members reach each other.
    expect(local.body.securityGroups.ingress).toMatchObject({ allowed: true, decidedBy: "rule" });
    const tr = local.body.transfer!;
    expect(tr.mtu).toBe(9001);
    expect(tr.throughputGbps).toBeLessThanOrEqual(Math.min(0.75, SINGLE_FLOW_GBPS));
    expect(tr.limitedBy).toBe("source-instance-bandwidth");
    // The Nitro card did the work: no dom0, card time on both ends.
    expect(local.body.source!.cost.cardNs).toBeGreaterThan(0);
    expect(local.body.source!.cost.dom0Cycles).toBe(0);

    // A second host in another rack: the next launch with spread lands there.
    await addHosts(zone, "m5", 1, { rack: `${zone}-r2` });
    const [c] = await running(t, {
      instanceType: "m5.large",
      availabilityZone: zone,
      placementStrategy: "spread",
    });
    expect(c.hostId).not.toBe(a.hostId);
    const remote = await send(t, a.instanceId, {
      destination: { instanceId: c.instanceId },
      protocol: "tcp",
      port: 443,
      bytes: 10_000_000,
    });
    const vpc = await call<{ vpcs: { vni: number }[] }>("GET", "/v1/vpcs", undefined, as(t));
    expect(remote.body).toMatchObject({
      delivered: true,
      path: { kind: "overlay", vni: vpc.body.vpcs[0].vni },
    });
    expect(remote.body.transfer!.hops).toBe(3);
    expect(remote.body.transfer!.wireBytes).toBeGreaterThan(local.body.transfer!.wireBytes);
    expect(remote.body.transfer!.latencyUs).toBeGreaterThan(local.body.transfer!.latencyUs);
  });

  it("prices a Xen paravirtual guest's send through dom0's netback, and holds it to what one netback thread moves", async () => {
    const t = await newTenant("net-xen");
    const zone = freshZone();
    await addHosts(zone, "m3", 2);
    const [a, b] = await running(t, {
      instanceType: "m3.2xlarge",
      availabilityZone: zone,
      virtualizationType: "paravirtual",
      minCount: 2,
      maxCount: 2,
      placementStrategy: "spread",
    });
    const res = await send(t, a.instanceId, {
      destination: { instanceId: b.instanceId },
      protocol: "tcp",
      port: 80,
      bytes: 1_000_000,
    });
    expect(res.body.delivered).toBe(true);
    expect(res.body.source).toMatchObject({ hypervisor: "xen", netPath: "netfront" });
    expect(res.body.source!.cost.dom0Cycles).toBeGreaterThan(0);
    expect(res.body.source!.cost.cardNs).toBe(0);
    expect(res.body.transfer!.mtu).toBe(1500);
    expect(res.body.path!.hops.join(" | ")).toMatch(/netback/);
    // One netback thread moves about 2.9 Gb/s of 1,500-byte frames (Ram et al., cpu/costs.ts).
    expect(res.body.transfer!.ceilingsGbps["source-backend"]).toBeGreaterThan(2.5);
    expect(res.body.transfer!.ceilingsGbps["source-backend"]).toBeLessThan(3.1);
  });

  it("drops a send to another VPC with the reason, until the VPCs are peered and the group allows it", async () => {
    const t = await newTenant("net-vpcs");
    const zone = freshZone();
    await addHosts(zone, "m5", 2);
    const [a] = await running(t, { instanceType: "m5.large", availabilityZone: zone });
    const vpc = await post<{ vpcId: string; vni: number }>(t, "/v1/vpcs", { cidrBlock: "10.1.0.0/16" });
    const subnet = await post<{ subnetId: string }>(t, "/v1/subnets", {
      vpcId: vpc.vpcId,
      cidrBlock: "10.1.1.0/24",
      availabilityZone: zone,
    });
    // On the other host, so that its frames cross the overlay.
    const [b] = await running(t, {
      instanceType: "m5.large",
      subnetId: subnet.subnetId,
      placementStrategy: "spread",
    });
    expect(b.hostId).not.toBe(a.hostId);
    const bEni = await eniOf(t, b.instanceId);
    expect(bEni.privateIpAddress).toBe("10.1.1.4");

    const byId = await send(t, a.instanceId, {
      destination: { instanceId: b.instanceId },
      protocol: "tcp",
      port: 80,
      bytes: 100,
    });
    expect(byId.body).toMatchObject({ delivered: false, transfer: null });
    expect(byId.body.reason).toMatch(/no route.*not peered/);
    const byIp = await send(t, a.instanceId, {
      destination: { ip: "10.1.1.4" },
      protocol: "tcp",
      port: 80,
      bytes: 100,
    });
    expect(byIp.body.delivered).toBe(false);
    expect(byIp.body.reason).toMatch(/no route: 10\.1\.1\.4 is outside/);

    const defaultVpc = (await eniOf(t, a.instanceId)).vpcId;
    const pcx = await post<{ vpcPeeringConnectionId: string }>(t, "/v1/vpc-peering-connections", {
      vpcId: defaultVpc,
      peerVpcId: vpc.vpcId,
    });
    // Routed now, but b's default group admits only its own members.
    const blocked = await send(t, a.instanceId, {
      destination: { ip: "10.1.1.4" },
      protocol: "tcp",
      port: 80,
      bytes: 100,
    });
    expect(blocked.body).toMatchObject({
      delivered: false,
      route: { kind: "peering", peeringId: pcx.vpcPeeringConnectionId },
    });
    expect(blocked.body.reason).toMatch(/^inbound: no rule/);
    const rule = await post<{ rules: { ruleId: string; direction: string; cidr: string | null }[] }>(
      t,
      `/v1/security-groups/${bEni.securityGroupIds[0]}/rules`,
      {
        rules: [{ direction: "ingress", protocol: "tcp", fromPort: 80, toPort: 80, cidr: "172.31.0.0/16" }],
      },
    );
    const added = rule.rules.find((r) => r.cidr === "172.31.0.0/16")!;
    const through = await send(t, a.instanceId, {
      destination: { ip: "10.1.1.4" },
      protocol: "tcp",
      port: 80,
      bytes: 100,
    });
    expect(through.body).toMatchObject({
      delivered: true,
      route: { kind: "peering", vpcId: vpc.vpcId },
      path: { kind: "overlay", vni: vpc.vni },
      securityGroups: { ingress: { decidedBy: "rule", ruleId: added.ruleId } },
    });
  });

  it("never delivers a packet between VPCs that are not peered, whatever the destination", async () => {
    const t = await newTenant("net-isolation");
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    // Two VPCs with the same block: the same addresses, never each other's.
    const vpcs = await Promise.all(
      ["10.9.0.0/16", "10.9.0.0/16"].map((c) => post<{ vpcId: string }>(t, "/v1/vpcs", { cidrBlock: c })),
    );
    const subnets = await Promise.all(
      vpcs.map((v) =>
        post<{ subnetId: string }>(t, "/v1/subnets", {
          vpcId: v.vpcId,
          cidrBlock: "10.9.0.0/24",
          availabilityZone: zone,
        }),
      ),
    );
    const groups = await Promise.all(
      vpcs.map((v, i) =>
        post<{ groupId: string }>(t, "/v1/security-groups", { vpcId: v.vpcId, groupName: `open-${i}` }),
      ),
    );
    for (const g of groups) {
      await post(t, `/v1/security-groups/${g.groupId}/rules`, {
        rules: [{ direction: "ingress", protocol: "all", cidr: "0.0.0.0/0" }],
      });
    }
    const [a] = await running(t, {
      instanceType: "m5.large",
      subnetId: subnets[0].subnetId,
      securityGroupIds: [groups[0].groupId],
    });
    const others = await running(t, {
      instanceType: "m5.large",
      subnetId: subnets[1].subnetId,
      securityGroupIds: [groups[1].groupId],
      minCount: 2,
      maxCount: 2,
    });
    const ownIp = (await eniOf(t, a.instanceId)).privateIpAddress;
    const otherIps = await Promise.all(
      others.map((o) => eniOf(t, o.instanceId).then((e) => e.privateIpAddress)),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.constantFrom(...others.map((o) => ({ instanceId: o.instanceId }))),
          // The other VPC's addresses: the same as this one's (a holds 10.9.0.4 too, and sending to it is
          // a loopback, refused), never reaching the other VPC.
          fc.constantFrom(...otherIps.filter((ip) => ip !== ownIp).map((ip) => ({ ip }))),
          fc
            .integer({ min: 0, max: 255 })
            .map((n) => `10.9.0.${n}`)
            .filter((ip) => ip !== ownIp)
            .map((ip) => ({ ip })),
        ),
        fc.constantFrom("tcp", "udp", "icmp"),
        async (destination, protocol) => {
          const res = await send(t, a.instanceId, { destination, protocol, port: 80, bytes: 1000 });
          expect(res.status).toBe(200);
          // a is alone in its VPC: nothing it sends arrives, and never in the other VPC.
          expect(res.body.delivered).toBe(false);
          expect(res.body.transfer).toBeNull();
          expect(res.body.route?.vpcId ?? null).not.toBe(vpcs[1].vpcId);
        },
      ),
      { numRuns: 12 },
    );
  });

  it("keeps security groups stateful: the reply to an allowed flow passes, unsolicited inbound traffic is dropped", async () => {
    const t = await newTenant("net-stateful");
    const zone = freshZone();
    await addHosts(zone, "m5", 2);
    const vpc = (await call<{ vpcs: { vpcId: string }[] }>("GET", "/v1/vpcs", undefined, as(t))).body.vpcs[0]
      ?.vpcId;
    // The default VPC comes with the first launch; make it by launching the client.
    const sgClient = vpc ? null : null;
    expect(sgClient).toBeNull();
    const [client] = await running(t, { instanceType: "m5.large", availabilityZone: zone });
    const vpcId = (await eniOf(t, client.instanceId)).vpcId;
    const web = await post<{ groupId: string }>(t, "/v1/security-groups", { vpcId, groupName: "web" });
    await post(t, `/v1/security-groups/${web.groupId}/rules`, {
      rules: [{ direction: "ingress", protocol: "tcp", fromPort: 80, toPort: 80, cidr: "0.0.0.0/0" }],
    });
    const quiet = await post<{ groupId: string }>(t, "/v1/security-groups", { vpcId, groupName: "quiet" });
    const [server] = await running(t, {
      instanceType: "m5.large",
      availabilityZone: zone,
      securityGroupIds: [web.groupId],
      placementStrategy: "spread",
    });
    const [lone] = await running(t, {
      instanceType: "m5.large",
      availabilityZone: zone,
      securityGroupIds: [quiet.groupId],
    });

    const req = await send(t, lone.instanceId, {
      destination: { instanceId: server.instanceId },
      protocol: "tcp",
      port: 80,
      bytes: 500,
    });
    expect(req.body).toMatchObject({
      delivered: true,
      securityGroups: { egress: { decidedBy: "rule" }, ingress: { decidedBy: "rule" } },
    });
    const clientPort = req.body.flow.source.port;
    // The reply: from port 80 back to the client's port. "quiet" has no inbound rule at all.
    const reply = await send(t, server.instanceId, {
      destination: { instanceId: lone.instanceId },
      protocol: "tcp",
      port: clientPort,
      sourcePort: 80,
      bytes: 50_000,
    });
    expect(reply.body).toMatchObject({
      delivered: true,
      securityGroups: { egress: { decidedBy: "tracked" }, ingress: { decidedBy: "tracked" } },
    });
    // The same server sending anew to another of lone's ports is unsolicited: dropped.
    const unsolicited = await send(t, server.instanceId, {
      destination: { instanceId: lone.instanceId },
      protocol: "tcp",
      port: 22,
      bytes: 50,
    });
    expect(unsolicited.body).toMatchObject({
      delivered: false,
      securityGroups: { ingress: { allowed: false, decidedBy: "no-rule" } },
    });
    // Idle past UDP's 30 s, a UDP flow is forgotten and its late reply dropped.
    const dns = await send(t, lone.instanceId, {
      destination: { instanceId: server.instanceId },
      protocol: "udp",
      port: 53,
      sourcePort: 40000,
      bytes: 60,
    });
    expect(dns.body.securityGroups.egress).toMatchObject({ allowed: true });
    await advance(31);
    const late = await send(t, server.instanceId, {
      destination: { instanceId: lone.instanceId },
      protocol: "udp",
      port: 40000,
      sourcePort: 53,
      bytes: 60,
    });
    expect(late.body.delivered).toBe(false);
  });

  it("frees an address when its instance terminates, and refuses a launch its subnet cannot address", async () => {
    const t = await newTenant("net-free");
    const zone = freshZone();
    await addHosts(zone, "m5", 2);
    const vpc = await post<{ vpcId: string }>(t, "/v1/vpcs", { cidrBlock: "10.2.0.0/16" });
    // A /28 holds 11 interfaces.
    const subnet = await post<{ subnetId: string }>(t, "/v1/subnets", {
      vpcId: vpc.vpcId,
      cidrBlock: "10.2.0.0/28",
      availabilityZone: zone,
    });
    const first = await running(t, {
      instanceType: "m5.large",
      subnetId: subnet.subnetId,
      minCount: 11,
      maxCount: 11,
    });
    const full = await launch({ instanceType: "m5.large", subnetId: subnet.subnetId }, as(t));
    expect(full.status).toBe(409);
    expect(full.body.code).toBe("InsufficientFreeAddressesInSubnet");
    const victim = first[3];
    const freed = (await eniOf(t, victim.instanceId)).privateIpAddress;
    expect((await call("DELETE", `/v1/instances/${victim.instanceId}`, undefined, as(t))).status).toBe(200);
    // Shutting down, it still holds its address; terminated, it does not.
    expect((await eniOf(t, victim.instanceId)).privateIpAddress).toBe(freed);
    await advance(60);
    const none = await call<{ networkInterfaces: Eni[] }>(
      "GET",
      `/v1/network-interfaces?instanceId=${victim.instanceId}`,
      undefined,
      as(t),
    );
    expect(none.body.networkInterfaces).toEqual([]);
    const [next] = await running(t, { instanceType: "m5.large", subnetId: subnet.subnetId });
    expect((await eniOf(t, next.instanceId)).privateIpAddress).toBe(freed);
    // Its release is in the account's network event log, after its attachment.
    const logged = await call<{ events: { type: string; privateIpAddress: string }[] }>(
      "GET",
      `/v1/network-events?instanceId=${victim.instanceId}`,
      undefined,
      as(t),
    );
    expect(logged.body.events.map((e) => [e.type, e.privateIpAddress])).toEqual([
      ["network-interface.attached", freed],
      ["network-interface.released", freed],
    ]);
    const released = await call<{ events: unknown[] }>(
      "GET",
      "/v1/network-events?type=network-interface.released",
      undefined,
      as(t),
    );
    expect(released.body.events).toHaveLength(1);
  });

  it("hands out distinct addresses to launches that race for one subnet", async () => {
    const t = await newTenant("net-race");
    const zone = freshZone();
    await addHosts(zone, "m5", 3);
    const vpc = await post<{ vpcId: string }>(t, "/v1/vpcs", { cidrBlock: "10.3.0.0/16" });
    const subnet = await post<{ subnetId: string }>(t, "/v1/subnets", {
      vpcId: vpc.vpcId,
      cidrBlock: "10.3.0.0/24",
      availabilityZone: zone,
    });
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        launch({ instanceType: "m5.large", subnetId: subnet.subnetId, minCount: 2, maxCount: 2 }, as(t)),
      ),
    );
    expect(results.every((r) => r.status === 201)).toBe(true);
    const list = await call<{ networkInterfaces: Eni[] }>(
      "GET",
      `/v1/network-interfaces?subnetId=${subnet.subnetId}`,
      undefined,
      as(t),
    );
    expect(list.body.networkInterfaces).toHaveLength(12);
    expect(new Set(list.body.networkInterfaces.map((e) => e.privateIpAddress)).size).toBe(12);
  });

  it("keeps each account's network its own: another account gets 404 and sees none of it", async () => {
    const owner = await newTenant("net-owner");
    const other = await newTenant("net-other");
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const vpc = await post<{ vpcId: string }>(owner, "/v1/vpcs", { cidrBlock: "10.4.0.0/16" });
    const [a] = await running(owner, { instanceType: "m5.large", availabilityZone: zone });
    const [b] = await running(other, { instanceType: "m5.large", availabilityZone: zone });
    const eni = await eniOf(owner, a.instanceId);
    for (const path of [
      `/v1/vpcs/${vpc.vpcId}`,
      `/v1/subnets/${eni.subnetId}`,
      `/v1/network-interfaces/${eni.networkInterfaceId}`,
      `/v1/security-groups/${eni.securityGroupIds[0]}`,
    ]) {
      expect((await call("GET", path, undefined, as(other))).status).toBe(404);
    }
    const list = await call<{ vpcs: { vpcId: string }[] }>("GET", "/v1/vpcs", undefined, as(other));
    expect(list.body.vpcs.map((v) => v.vpcId)).not.toContain(vpc.vpcId);
    const cross = await send(other, b.instanceId, {
      destination: { instanceId: a.instanceId },
      protocol: "tcp",
      port: 80,
      bytes: 1,
    });
    expect(cross.status).toBe(404);
    // By address, the other account reaches only its own default VPC, where nothing holds the owner's second address.
    const [a2] = await running(owner, { instanceType: "m5.large", availabilityZone: zone });
    const second = (await eniOf(owner, a2.instanceId)).privateIpAddress;
    const byIp = await send(other, b.instanceId, {
      destination: { ip: second },
      protocol: "tcp",
      port: 80,
      bytes: 1,
    });
    expect(byIp.status).toBe(200);
    expect(byIp.body.delivered).toBe(false);
    expect(byIp.body.reason).toMatch(/no interface in vpc-/);
  });

  it("refuses bad input with a 400 naming the field, and changes nothing", async () => {
    const t = await newTenant("net-bad");
    const cases: [string, unknown, string][] = [
      ["/v1/vpcs", { cidrBlock: "10.0.0.1/16" }, "body.cidrBlock"],
      ["/v1/vpcs", { cidrBlock: "10.0.0.0/8" }, "body.cidrBlock"],
      ["/v1/vpcs", { cidrBlock: "nonsense" }, "body.cidrBlock"],
    ];
    for (const [path, body, field] of cases) {
      const res = await call<Problem & { field?: string }>("POST", path, body, as(t));
      expect(res.status).toBe(400);
      expect(res.body.detail).toContain(field);
    }
    const vpc = await post<{ vpcId: string }>(t, "/v1/vpcs", { cidrBlock: "10.5.0.0/16" });
    const outside = await call<Problem>(
      "POST",
      "/v1/subnets",
      { vpcId: vpc.vpcId, cidrBlock: "10.6.0.0/24", availabilityZone: "us-east-1a" },
      as(t),
    );
    expect(outside.status).toBe(400);
    expect(outside.body.detail).toMatch(/body\.cidrBlock: .*not within/);
    const g = await post<{ groupId: string; rules: unknown[] }>(t, "/v1/security-groups", {
      vpcId: vpc.vpcId,
      groupName: "g",
    });
    const both = await call<Problem>(
      "POST",
      `/v1/security-groups/${g.groupId}/rules`,
      {
        rules: [
          { direction: "ingress", protocol: "tcp", fromPort: 1, toPort: 2, cidr: "0.0.0.0/0" },
          { direction: "ingress", protocol: "tcp", fromPort: 5, toPort: 4, cidr: "0.0.0.0/0" },
        ],
      },
      as(t),
    );
    expect(both.status).toBe(400);
    expect(both.body.detail).toMatch(/body\.rules\.1\.fromPort/);
    // All or none: the first, valid rule was not added either.
    const after = await call<{ rules: unknown[] }>(
      "GET",
      `/v1/security-groups/${g.groupId}`,
      undefined,
      as(t),
    );
    expect(after.body.rules).toHaveLength(g.rules.length);
    const dup = await call<Problem>(
      "POST",
      "/v1/security-groups",
      { vpcId: vpc.vpcId, groupName: "g" },
      as(t),
    );
    expect(dup.body.code).toBe("InvalidGroup.Duplicate");
    const overlap = await call<Problem>(
      "POST",
      "/v1/vpc-peering-connections",
      {
        vpcId: vpc.vpcId,
        peerVpcId: (await post<{ vpcId: string }>(t, "/v1/vpcs", { cidrBlock: "10.5.128.0/17" })).vpcId,
      },
      as(t),
    );
    expect(overlap.body.code).toBe("InvalidVpcPeeringConnection.Overlap");
  });

  it("is repaired by reconcile: an interface whose instance is gone is released, its address freed", async () => {
    const t = await newTenant("net-reconcile");
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const [a] = await running(t, { instanceType: "m5.large", availabilityZone: zone });
    const eni = await eniOf(t, a.instanceId);
    // A terminate whose release never ran leaves an interface whose instance no longer exists.
    const ghost = "i-0000000000000dead";
    await env.DB.prepare(
      "INSERT INTO network_interfaces (id, account_id, subnet_id, vpc_id, zone, instance_id, mac_address, private_ip, ip, security_group_ids, created_at) SELECT 'eni-0000000000000dead', account_id, subnet_id, vpc_id, zone, ?, '02:00:00:00:de:ad', '172.31.255.250', ip + 100, security_group_ids, created_at FROM network_interfaces WHERE id = ?",
    )
      .bind(ghost, eni.networkInterfaceId)
      .run();
    const report = await call<{ agree: boolean; network: { leaked: number; released: number } }>(
      "POST",
      "/v1/admin/reconcile",
      { repair: true },
    );
    expect(report.body.network.leaked).toBeGreaterThanOrEqual(1);
    expect(report.body.network.released).toBeGreaterThanOrEqual(1);
    const gone = await call("GET", "/v1/network-interfaces/eni-0000000000000dead", undefined, as(t));
    expect(gone.status).toBe(404);
    // The live instance's interface stays.
    expect(
      (await call("GET", `/v1/network-interfaces/${eni.networkInterfaceId}`, undefined, as(t))).status,
    ).toBe(200);
    const again = await call<{ network: { leaked: number } }>("POST", "/v1/admin/reconcile", {
      repair: false,
    });
    expect(again.body.network.leaked).toBe(0);
  });
});
