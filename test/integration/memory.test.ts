import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { addHosts, advance, call, freshZone, launch, type Problem } from "./helpers";

interface TranslateBody {
  hpa: string | null;
  tlbHit: boolean;
  fault: string | null;
  faultsHandled: { eptViolations: number; guestPageFaults: number; vmExits: number } | null;
  firstAttempt: { mode: string; memoryReferences: number; guest: unknown[]; tlbHit: boolean };
  retried: { hpa: number | null; memoryReferences: number } | null;
}

interface HostMemory {
  freeFrames: number;
  owners: { vmId: string; frames: number }[];
}

const translate = (id: string, body: Record<string, unknown>) =>
  call<TranslateBody & Problem>("POST", `/v1/instances/${id}/memory/translate`, body);

describe("memory virtualization through the API", () => {
  it("demand-pages a guest address on first touch, then hits the TLB, and gives frames back on stop", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "m5", 1);
    const before = await call<HostMemory>("GET", `/v1/hosts/${host.hostId}/memory`);
    const id = (await launch({ instanceType: "m5.large", availabilityZone: zone })).body.instances[0]
      .instanceId;

    const first = await translate(id, { address: "0x7f0000401000", addressSpace: 1 });
    expect(first.status).toBe(200);
    // Nothing is mapped yet: the guest takes a page fault, and backing the page is an EPT violation.
    expect(first.body.fault).not.toBeNull();
    expect(first.body.faultsHandled?.guestPageFaults).toBeGreaterThan(0);
    expect(first.body.faultsHandled?.eptViolations).toBeGreaterThan(0);
    expect(first.body.faultsHandled?.vmExits).toBeGreaterThan(0);
    expect(first.body.hpa).toMatch(/^0x[0-9a-f]+$/);

    const again = await translate(id, { address: "0x7f0000401000", addressSpace: 1 });
    expect(again.body.tlbHit).toBe(true);
    expect(again.body.fault).toBeNull();
    expect(again.body.hpa).toBe(first.body.hpa);

    // Another vCPU has its own TLB: a full two-dimensional walk, four guest levels deep.
    const other = await translate(id, { address: "0x7f0000401000", addressSpace: 1, vcpu: 1 });
    expect(other.body.tlbHit).toBe(false);
    expect(other.body.firstAttempt.mode).toBe("ept");
    expect(other.body.firstAttempt.guest).toHaveLength(4);
    expect(other.body.firstAttempt.memoryReferences).toBeGreaterThan(4);
    expect(other.body.hpa).toBe(first.body.hpa);

    const summary = await call<{ backedBytes: number; tlb: { hits: number } }>(
      "GET",
      `/v1/instances/${id}/memory`,
    );
    expect(summary.body.backedBytes).toBeGreaterThan(0);
    expect(summary.body.tlb.hits).toBeGreaterThan(0);

    const during = await call<HostMemory>("GET", `/v1/hosts/${host.hostId}/memory`);
    expect(during.body.owners.find((o) => o.vmId === id)?.frames).toBeGreaterThan(0);
    expect(during.body.freeFrames).toBeLessThan(before.body.freeFrames);

    await advance(60);
    await call("POST", `/v1/instances/${id}/stop`);
    await advance(60);
    const after = await call<HostMemory>("GET", `/v1/hosts/${host.hostId}/memory`);
    expect(after.body.owners.find((o) => o.vmId === id)).toBeUndefined();
    expect(after.body.freeFrames).toBe(before.body.freeFrames);
  });

  it("keeps the guest's mappings and the host's frames across eviction of the host object", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "r5", 1);
    const id = (await launch({ instanceType: "r5.large", availabilityZone: zone })).body.instances[0]
      .instanceId;
    const addresses = Array.from(
      { length: 20 },
      (_, i) => `0x${(0x5555_0000_0000 + i * 0x3000).toString(16)}`,
    );
    const hpas: (string | null)[] = [];
    for (const address of addresses) hpas.push((await translate(id, { address })).body.hpa);
    const frames = (await call<HostMemory>("GET", `/v1/hosts/${host.hostId}/memory`)).body.freeFrames;
    await evictDurableObject(env.HOST.getByName(host.hostId));
    for (const [i, address] of addresses.entries()) {
      const again = await translate(id, { address, vcpu: 1 });
      expect(again.body.fault).toBeNull();
      expect(again.body.hpa).toBe(hpas[i]);
    }
    expect((await call<HostMemory>("GET", `/v1/hosts/${host.hostId}/memory`)).body.freeFrames).toBe(frames);
  });

  it("moves a guest's memory map by its workload alone, by sample, and keeps it across eviction", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "m5", 1);
    const id = (
      await launch({ instanceType: "m5.large", availabilityZone: zone, workload: "memory_intensive" })
    ).body.instances[0].instanceId;
    interface Summary {
      touchedBytes: number;
      tlb: { misses: number };
      walks: { count: number };
      faults: { guestPageFaults: number; eptViolations: number };
      workload: { samples: number; seconds: number; sampledEvents: number; representedEvents: number };
    }
    const summary = async () => (await call<Summary>("GET", `/v1/instances/${id}/memory`)).body;
    const launched = await summary();
    // Ten simulated minutes and not one translate: the workload's samples are what move the map.
    await advance(600);
    const later = await summary();
    expect(later.touchedBytes).toBeGreaterThan(launched.touchedBytes);
    expect(later.tlb.misses).toBeGreaterThan(launched.tlb.misses);
    expect(later.walks.count).toBeGreaterThan(launched.walks.count);
    expect(later.faults.guestPageFaults).toBeGreaterThan(launched.faults.guestPageFaults);
    expect(later.faults.eptViolations).toBeGreaterThan(launched.faults.eptViolations);
    expect(later.workload.samples).toBeGreaterThan(launched.workload.samples);
    expect(later.workload.seconds).toBeGreaterThan(0);
    expect(later.workload.representedEvents).toBeGreaterThan(later.workload.sampledEvents);
    // The host stored what the samples changed.
    await evictDurableObject(env.HOST.getByName(host.hostId));
    expect(await summary()).toEqual(later);
  });

  for (const [paging, refs] of [
    [{ eptPageSize: "4K" }, (4 + 1) * (4 + 1) - 1],
    [{ guestLevels: 5, eptLevels: 5, eptPageSize: "4K" }, (5 + 1) * (5 + 1) - 1],
    [{ guestPageSize: "2M", eptPageSize: "2M" }, (3 + 1) * (3 + 1) - 1],
  ] as const) {
    it(`walks ${JSON.stringify(paging)} in ${refs} references, as (n+1)(m+1)-1 says`, async () => {
      const zone = freshZone();
      await addHosts(zone, "m5", 1);
      const launched = await launch({ instanceType: "m5.large", availabilityZone: zone, paging });
      expect(launched.status).toBe(201);
      const id = launched.body.instances[0].instanceId;
      await translate(id, { address: "0x7f0000400000" });
      // vCPU 1's TLB is cold: a full walk over tables that now exist.
      const walk = await translate(id, { address: "0x7f0000400000", vcpu: 1 });
      expect(walk.body.firstAttempt.mode).toBe("ept");
      expect(walk.body.firstAttempt.memoryReferences).toBe(refs);
    });
  }

  it("refuses paging the memory model cannot run, naming the field", async () => {
    const res = await launch({ instanceType: "m5.large", paging: { guestLevels: 6 } });
    expect(res.status).toBe(400);
    expect(res.body.detail).toContain("body.paging.guestLevels");
  });

  it("tags TLB entries with VPID and PCID as chosen, and reads the deprecated tagged as both", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 2);
    const noPcid = (
      await launch({ instanceType: "m5.large", availabilityZone: zone, paging: { pcid: false } })
    ).body.instances[0].instanceId;
    const summary = await call<{ vpid: boolean; pcid: boolean; threads: number[] }>(
      "GET",
      `/v1/instances/${noPcid}/memory`,
    );
    expect(summary.body).toMatchObject({ vpid: true, pcid: false });
    expect(summary.body.threads).toHaveLength(2);
    // Process 1, then 2, then 1 again on one vCPU: without PCIDs the CR3 writes drop the user page,
    // and the kernel's global page stays.
    for (const address of ["0x400000", "0xffff800000400000"]) await translate(noPcid, { address });
    await translate(noPcid, { address: "0x400000", addressSpace: 2 });
    expect((await translate(noPcid, { address: "0x400000" })).body.tlbHit).toBe(false);
    expect((await translate(noPcid, { address: "0xffff800000400000" })).body.tlbHit).toBe(true);

    const legacy = await launch({
      instanceType: "m5.large",
      availabilityZone: zone,
      paging: { tagged: false },
    });
    expect(legacy.status).toBe(201);
    const id = legacy.body.instances[0].instanceId;
    const tags = await call<{ vpid: boolean; pcid: boolean }>("GET", `/v1/instances/${id}/memory`);
    expect(tags.body).toMatchObject({ vpid: false, pcid: false });

    const contradiction = await launch({ instanceType: "m5.large", paging: { tagged: true, vpid: false } });
    expect(contradiction.status).toBe(400);
    expect(contradiction.body.detail).toContain("paging");
    expect(contradiction.body.detail).toContain("vpid");
  });

  it("walks an m4 (HVM) guest's tables in two dimensions on EPT, and an m3 PV guest's own tables in one", async () => {
    const zone = freshZone();
    await addHosts(zone, "m4", 1);
    await addHosts(zone, "m3", 1);
    const hvm = (await launch({ instanceType: "m4.large", availabilityZone: zone })).body.instances[0];
    const pv = (
      await launch({ instanceType: "m3.large", availabilityZone: zone, virtualizationType: "paravirtual" })
    ).body.instances[0];
    const walks = [];
    for (const id of [hvm.instanceId, pv.instanceId]) {
      await translate(id, { address: "0x400000", addressSpace: 2 });
      // vCPU 1's TLB is cold: a full walk of tables that now exist.
      walks.push((await translate(id, { address: "0x400000", addressSpace: 2, vcpu: 1 })).body.firstAttempt);
    }
    const [twoD, oneD] = walks;
    expect(twoD.mode).toBe("ept");
    expect(twoD.memoryReferences).toBeGreaterThan(4);
    expect(oneD.mode).toBe("direct");
    expect(oneD.memoryReferences).toBe(4);
    const summary = await call<{ vmExits: { total: number }; hypercalls: { mmu_update: number } }>(
      "GET",
      `/v1/instances/${pv.instanceId}/memory`,
    );
    expect(summary.body.vmExits.total).toBe(0);
    expect(summary.body.hypercalls.mmu_update).toBeGreaterThan(0);
  });

  it("runs a paravirtual guest without VPID or PCID tags, and refuses a launch that asks for them", async () => {
    const zone = freshZone();
    await addHosts(zone, "m3", 1);
    const pv = { instanceType: "m3.large", availabilityZone: zone, virtualizationType: "paravirtual" };
    const id = (await launch(pv)).body.instances[0].instanceId;
    const summary = await call<{ mode: string; vpid: boolean; pcid: boolean }>(
      "GET",
      `/v1/instances/${id}/memory`,
    );
    expect(summary.body).toMatchObject({ mode: "direct", vpid: false, pcid: false });
    for (const tag of ["vpid", "pcid"]) {
      const res = await launch({ ...pv, paging: { [tag]: true } });
      expect(res.status).toBe(400);
      expect(res.body.detail).toContain("paging");
      expect(res.body.detail).toContain(tag);
    }
  });

  it("walks the shadow tables of a Xen HVM guest that asks for them in one dimension", async () => {
    const zone = freshZone();
    await addHosts(zone, "m4", 1);
    const id = (
      await launch({ instanceType: "m4.large", availabilityZone: zone, paging: { mode: "shadow" } })
    ).body.instances[0].instanceId;
    await translate(id, { address: "0x400000", addressSpace: 2 });
    const walk = await translate(id, { address: "0x400000", addressSpace: 2, vcpu: 1 });
    expect(walk.body.firstAttempt.mode).toBe("shadow");
    expect(walk.body.firstAttempt.memoryReferences).toBeLessThanOrEqual(4);
  });

  it("refuses addresses it cannot translate, naming the field", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const id = (await launch({ instanceType: "m5.large", availabilityZone: zone })).body.instances[0]
      .instanceId;
    const junk = await translate(id, { address: "banana" });
    expect(junk.status).toBe(400);
    expect(junk.body.detail).toContain("body.address");
    const vcpu = await translate(id, { address: "0x1000", vcpu: 7 });
    expect(vcpu.status).toBe(400);
    expect(vcpu.body.detail).toContain("body.vcpu");
    const extra = await translate(id, { address: "0x1000", colour: 1 });
    expect(extra.status).toBe(400);
    expect(extra.body.detail).toContain("body.colour");
  });
});
