// A launch's virtualization type, as EC2 had it: HVM only on Nitro and on the last Xen families (c4, m4, r4),
// HVM or paravirtual on m3; the instance shows which it is, in its own answer and in lists.
import { describe, expect, it } from "vitest";
import type { VmCpuCounters } from "../../src/sim/cpu";
import { pvEntryCycles } from "../sim/cpu/fixtures";
import { addHosts, advance, call, freshZone, getInstance, launch } from "./helpers";

interface TypeBody {
  name: string;
  virtualizationTypes: string[];
  enhancedNetworking: string | null;
  instanceStorage: { totalGB: number; nvme: boolean };
}

describe("virtualization types", () => {
  it("launches an m3 guest paravirtual when asked and HVM otherwise, and shows which on the instance", async () => {
    const zone = freshZone();
    await addHosts(zone, "m3", 1);
    const pv = await launch({
      instanceType: "m3.xlarge",
      availabilityZone: zone,
      virtualizationType: "paravirtual",
    });
    const hvm = await launch({ instanceType: "m3.xlarge", availabilityZone: zone });
    expect(pv.status).toBe(201);
    expect(hvm.status).toBe(201);
    const pvId = pv.body.instances[0].instanceId;
    const hvmId = hvm.body.instances[0].instanceId;
    const shown = async (id: string) =>
      ((await getInstance(id)).body as unknown as { virtualizationType: string }).virtualizationType;
    expect(await shown(pvId)).toBe("paravirtual");
    expect(await shown(hvmId)).toBe("hvm");
    // D1's list says the same as the host object.
    const list = await call<{ instances: { instanceId: string; virtualizationType: string }[] }>(
      "GET",
      `/v1/instances?availabilityZone=${zone}`,
    );
    const byId = new Map(list.body.instances.map((i) => [i.instanceId, i.virtualizationType]));
    expect(byId.get(pvId)).toBe("paravirtual");
    expect(byId.get(hvmId)).toBe("hvm");
    // The CPU model runs each as what it is.
    await advance(30);
    const mode = async (id: string) => (await call<VmCpuCounters>("GET", `/v1/instances/${id}/cpu`)).body;
    const [pvCpu, hvmCpu] = [await mode(pvId), await mode(hvmId)];
    expect(pvCpu.mode).toBe("pv");
    expect(hvmCpu.mode).toBe("hvm");
    // The HVM guest exits; the PV guest's time in Xen is its hypercalls and traps at their price, with no
    // exit among them (one a second, at 1,350 cycles or more, would show).
    expect(hvmCpu.totalExits).toBeGreaterThan(0);
    expect(pvCpu.cycles.hypervisor).toBeGreaterThan(0);
    expect(Math.abs(pvCpu.cycles.hypervisor - pvEntryCycles(pvCpu))).toBeLessThan(
      (1350 * pvCpu.windowMs) / 1000,
    );
  });

  for (const instanceType of ["m4.large", "c4.large", "r4.large", "m5.large"]) {
    it(`refuses a paravirtual ${instanceType}, naming virtualizationType, and launches nothing`, async () => {
      const zone = freshZone();
      await addHosts(zone, instanceType.split(".")[0], 1);
      const res = await launch({ instanceType, availabilityZone: zone, virtualizationType: "paravirtual" });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("InvalidParameterValue");
      expect(res.body.detail).toContain("virtualizationType");
      const list = await call<{ instances: unknown[] }>("GET", `/v1/instances?availabilityZone=${zone}`);
      expect(list.body.instances).toHaveLength(0);
    });
  }

  it("refuses paging the virtualization type cannot have, naming the field", async () => {
    const zone = freshZone();
    await addHosts(zone, "m3", 1);
    const direct = await launch({
      instanceType: "m3.large",
      availabilityZone: zone,
      paging: { mode: "direct" },
    });
    expect(direct.status).toBe(400);
    expect(direct.body.detail).toContain("paging");
    const shadow = await launch({
      instanceType: "m3.large",
      availabilityZone: zone,
      virtualizationType: "paravirtual",
      paging: { mode: "shadow" },
    });
    expect(shadow.status).toBe(400);
    expect(shadow.body.detail).toContain("paging");
    const bogus = await launch({
      instanceType: "m3.large",
      availabilityZone: zone,
      virtualizationType: "pv",
    });
    expect(bogus.status).toBe(400);
    expect(bogus.body.detail).toContain("body.virtualizationType");
  });

  it("lists the types a launch may make paravirtual, and each type's enhanced networking", async () => {
    const pv = await call<{ instanceTypes: TypeBody[] }>(
      "GET",
      "/v1/instance-types?virtualizationType=paravirtual",
    );
    expect(pv.status).toBe(200);
    expect(pv.body.instanceTypes.map((t) => t.name)).toEqual([
      "m3.medium",
      "m3.large",
      "m3.xlarge",
      "m3.2xlarge",
    ]);
    const all = await call<{ instanceTypes: TypeBody[] }>("GET", "/v1/instance-types");
    const of = (name: string) => all.body.instanceTypes.find((t) => t.name === name)!;
    expect(of("m4.large").virtualizationTypes).toEqual(["hvm"]);
    expect(of("m4.large").enhancedNetworking).toBe("intel-82599-vf");
    expect(of("m4.16xlarge").enhancedNetworking).toBe("ena");
    expect(of("r4.large").enhancedNetworking).toBe("ena");
    expect(of("m3.large").enhancedNetworking).toBeNull();
    // m3's SSDs are instance storage, though not NVMe.
    expect(of("m3.large").instanceStorage).toMatchObject({ totalGB: 32, nvme: false });
    const withStorage = await call<{ instanceTypes: TypeBody[] }>(
      "GET",
      "/v1/instance-types?instanceStorage=true",
    );
    expect(withStorage.body.instanceTypes.some((t) => t.name === "m3.large")).toBe(true);
  });
});
