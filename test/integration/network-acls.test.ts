import { describe, expect, it } from "vitest";
import type { SendAnswer } from "../../src/fleet/network-send";
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

const as = (t: Tenant) => bearer(t.apiKey);

interface Acl {
  networkAclId: string;
  vpcId: string;
  isDefault: boolean;
  entries: {
    ruleNumber: number;
    direction: string;
    protocol: string;
    cidrBlock: string;
    ruleAction: string;
  }[];
  associations: { networkAclAssociationId: string; subnetId: string }[];
}

async function post<T>(t: Tenant, path: string, body: unknown) {
  const res = await call<T & Problem>("POST", path, body, as(t));
  if (res.status >= 300) throw new Error(`${path}: ${JSON.stringify(res.body)}`);
  return res.body;
}

async function send(t: Tenant, from: string, body: Record<string, unknown>) {
  return call<SendAnswer & Problem>("POST", `/v1/instances/${from}/network/send`, body, as(t));
}

/** A VPC with two subnets of one zone, a group open to the VPC, and an instance in each subnet. */
async function twoSubnets(name: string) {
  const t = await newTenant(name);
  const zone = freshZone();
  await addHosts(zone, "m5", 1);
  const vpc = await post<{ vpcId: string }>(t, "/v1/vpcs", { cidrBlock: "10.4.0.0/16" });
  const [sa, sb] = await Promise.all(
    ["10.4.1.0/24", "10.4.2.0/24"].map((cidrBlock) =>
      post<{ subnetId: string }>(t, "/v1/subnets", { vpcId: vpc.vpcId, cidrBlock, availabilityZone: zone }),
    ),
  );
  const g = await post<{ groupId: string }>(t, "/v1/security-groups", {
    vpcId: vpc.vpcId,
    groupName: "vpc-open",
  });
  await post(t, `/v1/security-groups/${g.groupId}/rules`, {
    rules: [{ direction: "ingress", protocol: "all", cidr: "10.4.0.0/16" }],
  });
  const ids: string[] = [];
  for (const s of [sa, sb, sa]) {
    const res = await launch(
      { instanceType: "m5.large", subnetId: s.subnetId, securityGroupIds: [g.groupId] },
      as(t),
    );
    if (res.status !== 201) throw new Error(JSON.stringify(res.body));
    ids.push(res.body.instances[0].instanceId);
  }
  await advance(120);
  return { t, vpc, sa, sb, a: ids[0], b: ids[1], a2: ids[2] };
}

describe("network ACLs", () => {
  it("give every VPC a default ACL that allows all both ways, associated with each of its subnets", async () => {
    const { t, vpc, sa, sb, a, b } = await twoSubnets("nacl-default");
    const list = await call<{ networkAcls: Acl[] }>(
      "GET",
      `/v1/network-acls?vpcId=${vpc.vpcId}`,
      undefined,
      as(t),
    );
    expect(list.status).toBe(200);
    expect(list.body.networkAcls).toHaveLength(1);
    const acl = list.body.networkAcls[0];
    expect(acl.isDefault).toBe(true);
    expect(acl.associations.map((x) => x.subnetId).sort()).toEqual([sa.subnetId, sb.subnetId].sort());
    expect(acl.entries).toEqual([
      expect.objectContaining({
        ruleNumber: 100,
        direction: "egress",
        ruleAction: "allow",
        cidrBlock: "0.0.0.0/0",
      }),
      expect.objectContaining({ ruleNumber: 32767, direction: "egress", ruleAction: "deny" }),
      expect.objectContaining({ ruleNumber: 100, direction: "ingress", ruleAction: "allow" }),
      expect.objectContaining({ ruleNumber: 32767, direction: "ingress", ruleAction: "deny" }),
    ]);
    const res = await send(t, a, { destination: { instanceId: b }, protocol: "tcp", port: 80, bytes: 1000 });
    expect(res.body.delivered).toBe(true);
    expect(res.body.networkAcls).toEqual({
      crossed: true,
      outbound: expect.objectContaining({
        networkAclId: acl.networkAclId,
        ruleNumber: 100,
        ruleAction: "allow",
      }),
      inbound: expect.objectContaining({
        networkAclId: acl.networkAclId,
        ruleNumber: 100,
        ruleAction: "allow",
      }),
    });
  });

  it("deny by the lowest-numbered matching rule, name it in the answer, and leave traffic inside one subnet alone", async () => {
    const { t, vpc, sb, a, b, a2 } = await twoSubnets("nacl-order");
    const acl = await post<Acl>(t, "/v1/network-acls", { vpcId: vpc.vpcId });
    expect(acl.isDefault).toBe(false);
    // A new ACL has only the catch-all rules: nothing passes.
    expect(acl.entries.map((e) => e.ruleNumber)).toEqual([32767, 32767]);
    const assoc = await call<{ networkAclAssociationId: string; subnetId: string; networkAclId: string }>(
      "PUT",
      `/v1/subnets/${sb.subnetId}/network-acl`,
      { networkAclId: acl.networkAclId },
      as(t),
    );
    expect(assoc.status).toBe(200);
    expect(assoc.body).toMatchObject({ subnetId: sb.subnetId, networkAclId: acl.networkAclId });
    const none = await send(t, a, { destination: { instanceId: b }, protocol: "tcp", port: 80, bytes: 1000 });
    expect(none.body).toMatchObject({
      delivered: false,
      networkAcls: { inbound: { networkAclId: acl.networkAclId, ruleNumber: 32767, decidedBy: "catch-all" } },
    });
    for (const entry of [
      { ruleNumber: 200, direction: "ingress", protocol: "all", cidrBlock: "0.0.0.0/0", ruleAction: "allow" },
      {
        ruleNumber: 100,
        direction: "ingress",
        protocol: "tcp",
        fromPort: 22,
        toPort: 22,
        cidrBlock: "10.4.1.0/24",
        ruleAction: "deny",
      },
      { ruleNumber: 100, direction: "egress", protocol: "all", cidrBlock: "0.0.0.0/0", ruleAction: "allow" },
    ]) {
      await post(t, `/v1/network-acls/${acl.networkAclId}/entries`, entry);
    }
    const ssh = await send(t, a, { destination: { instanceId: b }, protocol: "tcp", port: 22, bytes: 1000 });
    expect(ssh.body).toMatchObject({
      delivered: false,
      networkAcls: { inbound: { ruleNumber: 100, ruleAction: "deny", decidedBy: "rule" } },
      // The security group allowed it out; the ACL decided.
      securityGroups: { egress: { allowed: true }, ingress: null },
    });
    expect(ssh.body.reason).toMatch(/rule 100 \(deny\)/);
    expect(ssh.body.reason).not.toMatch(/stateless/);
    const web = await send(t, a, { destination: { instanceId: b }, protocol: "tcp", port: 80, bytes: 1000 });
    expect(web.body).toMatchObject({
      delivered: true,
      networkAcls: { inbound: { ruleNumber: 200, ruleAction: "allow" } },
    });
    // Two instances of one subnet: no edge crossed, no ACL consulted.
    const inside = await send(t, a, {
      destination: { instanceId: a2 },
      protocol: "tcp",
      port: 22,
      bytes: 1000,
    });
    expect(inside.body).toMatchObject({
      delivered: true,
      networkAcls: { crossed: false, outbound: null, inbound: null },
    });
    // Removing the deny lets ssh through on rule 200.
    const removed = await call<Acl>(
      "DELETE",
      `/v1/network-acls/${acl.networkAclId}/entries/ingress/100`,
      undefined,
      as(t),
    );
    expect(removed.status).toBe(200);
    const again = await send(t, a, {
      destination: { instanceId: b },
      protocol: "tcp",
      port: 22,
      bytes: 1000,
    });
    expect(again.body).toMatchObject({ delivered: true, networkAcls: { inbound: { ruleNumber: 200 } } });
  });

  it("are stateless: the reply to a delivered request is dropped when no outbound rule allows it, though the security group tracks the flow", async () => {
    const { t, vpc, sb, a, b } = await twoSubnets("nacl-stateless");
    const acl = await post<Acl>(t, "/v1/network-acls", { vpcId: vpc.vpcId });
    await post(t, `/v1/network-acls/${acl.networkAclId}/entries`, {
      ruleNumber: 10,
      direction: "ingress",
      protocol: "tcp",
      fromPort: 80,
      toPort: 80,
      cidrBlock: "10.4.0.0/16",
      ruleAction: "allow",
    });
    await call("PUT", `/v1/subnets/${sb.subnetId}/network-acl`, { networkAclId: acl.networkAclId }, as(t));
    const req = await send(t, a, {
      destination: { instanceId: b },
      protocol: "tcp",
      port: 80,
      sourcePort: 40000,
      bytes: 100,
    });
    expect(req.body.delivered).toBe(true);
    // b replies from port 80 to a's port 40000: its security group passes it as tracked, but b's
    // subnet has no outbound rule, so the catch-all drops it.
    const reply = await send(t, b, {
      destination: { instanceId: a },
      protocol: "tcp",
      port: 40000,
      sourcePort: 80,
      bytes: 100,
    });
    expect(reply.body).toMatchObject({
      delivered: false,
      securityGroups: { egress: { allowed: true, decidedBy: "tracked" } },
      networkAcls: {
        outbound: { networkAclId: acl.networkAclId, ruleNumber: 32767, allowed: false },
        inbound: null,
      },
    });
    expect(reply.body.reason).toMatch(/catch-all rule.*stateless: a reply needs a rule of its own/);
    // An outbound rule for the ephemeral ports lets the reply out.
    await post(t, `/v1/network-acls/${acl.networkAclId}/entries`, {
      ruleNumber: 10,
      direction: "egress",
      protocol: "tcp",
      fromPort: 32768,
      toPort: 65535,
      cidrBlock: "10.4.0.0/16",
      ruleAction: "allow",
    });
    const replied = await send(t, b, {
      destination: { instanceId: a },
      protocol: "tcp",
      port: 40000,
      sourcePort: 80,
      bytes: 100,
    });
    expect(replied.body).toMatchObject({ delivered: true, networkAcls: { outbound: { ruleNumber: 10 } } });
  });

  it("refuse bad rules by field, keep numbers unique, delete only a custom unassociated ACL, and hide one account's ACLs from another", async () => {
    const { t, vpc, sb } = await twoSubnets("nacl-rules");
    const acl = await post<Acl>(t, "/v1/network-acls", { vpcId: vpc.vpcId });
    const url = `/v1/network-acls/${acl.networkAclId}/entries`;
    const base = {
      ruleNumber: 5,
      direction: "ingress",
      protocol: "tcp",
      fromPort: 1,
      toPort: 2,
      cidrBlock: "0.0.0.0/0",
      ruleAction: "allow",
    };
    const bad = await call<Problem>("POST", url, { ...base, ruleNumber: 32767 }, as(t));
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toMatch(/ruleNumber/);
    const ports = await call<Problem>("POST", url, { ...base, fromPort: 9, toPort: 2 }, as(t));
    expect(ports.status).toBe(400);
    expect(ports.body.detail).toMatch(/body\.fromPort/);
    const cidr = await call<Problem>("POST", url, { ...base, cidrBlock: "10.0.0.1/8" }, as(t));
    expect(cidr.status).toBe(400);
    expect(cidr.body.detail).toMatch(/body\.cidrBlock/);
    expect((await call("POST", url, base, as(t))).status).toBe(200);
    const dup = await call<Problem>("POST", url, base, as(t));
    expect(dup.status).toBe(400);
    expect(dup.body.code).toBe("NetworkAclEntryAlreadyExists");
    // Nothing half-applied: the failed adds left one rule.
    const now = await call<Acl>("GET", `/v1/network-acls/${acl.networkAclId}`, undefined, as(t));
    expect(now.body.entries.filter((e) => e.ruleNumber !== 32767)).toHaveLength(1);

    const other = await newTenant("nacl-other");
    expect((await call("GET", `/v1/network-acls/${acl.networkAclId}`, undefined, as(other))).status).toBe(
      404,
    );
    expect((await call("DELETE", `/v1/network-acls/${acl.networkAclId}`, undefined, as(other))).status).toBe(
      404,
    );
    const steal = await call<Problem>(
      "PUT",
      `/v1/subnets/${sb.subnetId}/network-acl`,
      { networkAclId: acl.networkAclId },
      as(other),
    );
    expect(steal.status).toBe(404);
    expect(
      (await call<{ networkAcls: Acl[] }>("GET", "/v1/network-acls", undefined, as(other))).body.networkAcls,
    ).toEqual([]);

    await call("PUT", `/v1/subnets/${sb.subnetId}/network-acl`, { networkAclId: acl.networkAclId }, as(t));
    const inUse = await call<Problem>("DELETE", `/v1/network-acls/${acl.networkAclId}`, undefined, as(t));
    expect(inUse.status).toBe(400);
    expect(inUse.body.code).toBe("DependencyViolation");
    const dflt = (
      await call<{ networkAcls: Acl[] }>("GET", `/v1/network-acls?vpcId=${vpc.vpcId}`, undefined, as(t))
    ).body.networkAcls.find((x) => x.isDefault)!;
    expect((await call("DELETE", `/v1/network-acls/${dflt.networkAclId}`, undefined, as(t))).status).toBe(
      400,
    );
    await call("PUT", `/v1/subnets/${sb.subnetId}/network-acl`, { networkAclId: dflt.networkAclId }, as(t));
    const gone = await call<{ deleted: boolean }>(
      "DELETE",
      `/v1/network-acls/${acl.networkAclId}`,
      undefined,
      as(t),
    );
    expect(gone.status).toBe(200);
    expect((await call("GET", `/v1/network-acls/${acl.networkAclId}`, undefined, as(t))).status).toBe(404);
  });
});
