// The network and storage checks over the fleet's records: each corruption fails its own check.
import { describe, expect, it } from "vitest";
import { checkNetwork, type NetworkState } from "../../../src/sim/security/network-check";
import { checkStorage } from "../../../src/sim/security/storage-check";

const A = "111111111111";
const B = "222222222222";

function network(): NetworkState {
  return {
    instances: [
      { instanceId: "i-a", accountId: A },
      { instanceId: "i-b", accountId: B },
    ],
    interfaces: [
      { eniId: "eni-a", instanceId: "i-a", accountId: A, subnetId: "subnet-a", vpcId: "vpc-a" },
      { eniId: "eni-b", instanceId: "i-b", accountId: B, subnetId: "subnet-b", vpcId: "vpc-b" },
    ],
    subnets: [
      { subnetId: "subnet-a", vpcId: "vpc-a", accountId: A },
      { subnetId: "subnet-b", vpcId: "vpc-b", accountId: B },
    ],
    vpcs: [
      { vpcId: "vpc-a", accountId: A, vni: 4097 },
      { vpcId: "vpc-b", accountId: B, vni: 4098 },
    ],
  };
}

describe("the network check", () => {
  it("passes interfaces on their own VPC's segment", () => {
    const r = checkNetwork(network());
    expect(r.status).toBe("pass");
    expect(r.examined).toEqual([
      { what: "interfaces", count: 2 },
      { what: "vpcs", count: 2 },
    ]);
  });

  it("fails an interface whose frames carry another VPC's VNI, naming both", () => {
    const s = network();
    const wrong = { ...s, interfaces: [s.interfaces[0], { ...s.interfaces[1], vpcId: "vpc-a" }] };
    const r = checkNetwork(wrong);
    expect(r.status).toBe("fail");
    const kinds = r.findings.map((f) => [f.kind, f.expected, f.found]);
    expect(kinds).toContainEqual(["vni-mismatch", "4098", "4097"]);
    expect(r.findings.every((f) => f.resource === "eni-b")).toBe(true);
  });

  it("fails an interface in another account's subnet", () => {
    const s = network();
    const r = checkNetwork({
      ...s,
      interfaces: [s.interfaces[0], { ...s.interfaces[1], subnetId: "subnet-a", vpcId: "vpc-a" }],
    });
    expect(r.findings.map((f) => f.kind)).toEqual(["foreign-network"]);
  });
});

describe("the storage check", () => {
  const instances = [
    { instanceId: "i-a", accountId: A },
    { instanceId: "i-b", accountId: B },
  ];
  it("passes volumes attached to their own account's instances", () => {
    const r = checkStorage({
      instances,
      attachments: [{ volumeId: "vol-a", instanceId: "i-a", volumeAccountId: A }],
    });
    expect(r.status).toBe("pass");
  });

  it("fails a volume attached across accounts", () => {
    const r = checkStorage({
      instances,
      attachments: [
        { volumeId: "vol-a", instanceId: "i-a", volumeAccountId: A },
        { volumeId: "vol-a2", instanceId: "i-b", volumeAccountId: A },
      ],
    });
    expect(r.status).toBe("fail");
    expect(r.findings.map((f) => [f.kind, f.resource, f.expected, f.found])).toEqual([
      ["cross-account-attachment", "vol-a2", B, A],
    ]);
  });
});
