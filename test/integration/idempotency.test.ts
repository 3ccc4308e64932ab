import { describe, expect, it } from "vitest";
import { addHosts, call, freshZone, launch } from "./helpers";

describe("client tokens", () => {
  it("launches once for the same token twice and answers with the same reservation", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const body = {
      instanceType: "m5.large",
      availabilityZone: zone,
      maxCount: 2,
      clientToken: `tok-${zone}`,
    };
    const first = await launch(body);
    const second = await launch(body);
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.body.reservationId).toBe(first.body.reservationId);
    expect(second.body.instances.map((i) => i.instanceId)).toEqual(
      first.body.instances.map((i) => i.instanceId),
    );
    const listed = await call<{ instances: unknown[] }>("GET", `/v1/instances?availabilityZone=${zone}`);
    expect(listed.body.instances).toHaveLength(2);
  });

  it("launches once when the same token arrives many times at once", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const body = { instanceType: "m5.large", availabilityZone: zone, clientToken: `burst-${zone}` };
    const all = await Promise.all(Array.from({ length: 8 }, () => launch(body)));
    expect(all.every((r) => r.status === 201)).toBe(true);
    expect(new Set(all.map((r) => r.body.instances[0].instanceId)).size).toBe(1);
    const listed = await call<{ instances: unknown[] }>("GET", `/v1/instances?availabilityZone=${zone}`);
    expect(listed.body.instances).toHaveLength(1);
  });

  it("refuses the same token with other parameters as IdempotentParameterMismatch", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const token = `mismatch-${zone}`;
    expect(
      (await launch({ instanceType: "m5.large", availabilityZone: zone, clientToken: token })).status,
    ).toBe(201);
    const res = await launch({ instanceType: "m5.xlarge", availabilityZone: zone, clientToken: token });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("IdempotentParameterMismatch");
    const listed = await call<{ instances: unknown[] }>("GET", `/v1/instances?availabilityZone=${zone}`);
    expect(listed.body.instances).toHaveLength(1);
  });

  it("lets a token whose launch failed for capacity be used again", async () => {
    const zone = freshZone();
    const token = `retry-${zone}`;
    await addHosts(zone, "m5", 1);
    await launch({ instanceType: "m5.24xlarge", availabilityZone: zone });
    const body = { instanceType: "m5.24xlarge", availabilityZone: zone, clientToken: token };
    expect((await launch(body)).status).toBe(503);
    await addHosts(zone, "m5", 1);
    expect((await launch(body)).status).toBe(201);
  });
});
