import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { addHosts, advance, call, freshZone, launch, type Problem } from "./helpers";

type Refusal = Problem & { instanceId?: string; state?: string };

/** The three reads a host answers about one of its instances. */
const reads = (id: string) => [
  call<Refusal>("GET", `/v1/instances/${id}/cpu`),
  call<Refusal>("GET", `/v1/instances/${id}/memory`),
  call<Refusal>("POST", `/v1/instances/${id}/memory/translate`, { address: "0x1000" }),
];

describe("reads of an instance from its host", () => {
  it("refuses each read of a stopped instance, saying it is on no host", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const id = (await launch({ instanceType: "m5.large", availabilityZone: zone })).body.instances[0]
      .instanceId;
    await advance(60);
    await call("POST", `/v1/instances/${id}/stop`);
    await advance(60);

    const [cpu, memory, translate] = await Promise.all(reads(id));
    for (const res of [cpu, memory, translate]) {
      expect(res.status).toBe(409);
      expect(res.body.code).toBe("IncorrectInstanceState");
      expect(res.body.state).toBe("stopped");
      expect(res.body.instanceId).toBe(id);
    }
    expect(cpu.body.detail).toContain("it runs on no host");
    expect(memory.body.detail).toContain("it has no memory on a host");
    expect(translate.body.detail).toContain("it has no memory on a host");
  });

  it("refuses each read with 409 when the host D1 names no longer holds the instance", async () => {
    const zone = freshZone();
    const hosts = await addHosts(zone, "m5", 2);
    const inst = (await launch({ instanceType: "m5.large", availabilityZone: zone })).body.instances[0];
    await advance(60);
    // D1 behind the truth: it names a host whose object never held the instance.
    const other = hosts.find((h) => h.hostId !== inst.hostId)!;
    await env.DB.prepare("UPDATE instances SET host_id = ? WHERE id = ?")
      .bind(other.hostId, inst.instanceId)
      .run();

    for (const res of await Promise.all(reads(inst.instanceId))) {
      expect(res.status).toBe(409);
      expect(res.body.code).toBe("IncorrectInstanceState");
      expect(res.body.detail).toBe(`The instance '${inst.instanceId}' has left its host`);
    }
  });
});
