// A change a host object (or D1's own conditional write) has made stands, whatever fails
// after it: the answer is what was applied, never a bare 500. Faults are injected where
// they would strike: a D1 trigger that refuses the mirror's or the token's write, and a
// trigger in a host object's SQLite that makes it fail its call.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { addHosts, advance, call, freshZone, getInstance, hostView, launch, type Problem } from "./helpers";

let triggers = 0;

/** Makes D1 refuse a write to `table` while `when` holds; answers the undo. */
async function refuseInD1(table: string, op: "INSERT" | "UPDATE", when: string) {
  const name = `injected_fault_${++triggers}`;
  await env.DB.prepare(
    `CREATE TRIGGER ${name} BEFORE ${op} ON ${table} WHEN ${when} BEGIN SELECT RAISE(ABORT, 'injected fault'); END`,
  ).run();
  return async () => {
    await env.DB.prepare(`DROP TRIGGER ${name}`).run();
  };
}

/** Makes a host object fail every call that stores a VM. */
async function breakHost(hostId: string) {
  await runInDurableObject(env.HOST.getByName(hostId), (_obj, state) => {
    state.storage.sql.exec(
      "CREATE TRIGGER injected_fault BEFORE INSERT ON vms BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
    );
  });
}

interface StateChange {
  currentState: { name: string };
}

describe("a failure after the change is made", () => {
  it("answers a stop with its state change when D1 refuses the mirror", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "m5", 1);
    const id = (await launch({ instanceType: "m5.large", availabilityZone: zone })).body.instances[0]
      .instanceId;
    await advance(60);
    const undo = await refuseInD1("events", "INSERT", `NEW.instance_id = '${id}'`);
    const res = await call<StateChange & Problem>("POST", `/v1/instances/${id}/stop`);
    await undo();
    expect(res.status).toBe(200);
    expect(res.body.currentState.name).toBe("stopping");
    expect((await hostView(host.hostId)).vms.find((v) => v.instanceId === id)?.state).toBe("stopping");
    // D1 missed it until the queue delivers the host's outbox; the repair path mends it too.
    await call("POST", "/v1/admin/reconcile", { repair: true });
    expect((await getInstance(id)).body.state.name).toBe("stopping");
  });

  it("answers a workload change of a stopped instance when D1 refuses the event after the change", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const id = (await launch({ instanceType: "m5.large", availabilityZone: zone })).body.instances[0]
      .instanceId;
    await advance(60);
    await call("POST", `/v1/instances/${id}/stop`);
    await advance(60);
    // The conditional write to the row is the change; the event log's insert comes after.
    const undo = await refuseInD1("events", "INSERT", `NEW.instance_id = '${id}'`);
    const res = await call<{ workload: string } & Problem>("PUT", `/v1/instances/${id}/workload`, {
      profile: "cpu_intensive",
    });
    await undo();
    expect(res.status).toBe(200);
    expect(res.body.workload).toBe("cpu_intensive");
    expect((await getInstance(id)).body).toMatchObject({ state: { name: "stopped" } });
  });

  it("answers a new host when D1 refuses its row, the host object made", async () => {
    const zone = freshZone();
    const undo = await refuseInD1("hosts", "INSERT", `NEW.zone = '${zone}'`);
    const res = await call<{ hostId: string } & Problem>("POST", "/v1/hosts", {
      availabilityZone: zone,
      family: "c5",
    });
    await undo();
    expect(res.status).toBe(201);
    expect((await hostView(res.body.hostId)).host.zone).toBe(zone);
  });

  it("answers a launch with its instances when completing the client token fails, and a retry with them once the token is stale", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const token = `complete-${zone}`;
    const body = { instanceType: "m5.large", availabilityZone: zone, maxCount: 2, clientToken: token };
    const undo = await refuseInD1("client_tokens", "UPDATE", `NEW.token = '${token}'`);
    const first = await launch(body);
    await undo();
    expect(first.status).toBe(201);
    expect(first.body.instances).toHaveLength(2);
    // The token was never completed; once it is stale, a retry finds the launch by its reservation.
    await env.DB.prepare("UPDATE client_tokens SET created_at = 0 WHERE token = ?").bind(token).run();
    const retry = await launch(body);
    expect(retry.status).toBe(201);
    expect(retry.body.reservationId).toBe(first.body.reservationId);
    expect(retry.body.instances.map((i) => i.instanceId)).toEqual(
      first.body.instances.map((i) => i.instanceId),
    );
    const listed = await call<{ instances: unknown[] }>("GET", `/v1/instances?availabilityZone=${zone}`);
    expect(listed.body.instances).toHaveLength(2);
  });
});

describe("a host that fails to answer a launch", () => {
  /** Host `a` with 8 m5.large slots left, offered first (binpack), and an empty host `b` after it. */
  async function fleetOfTwo() {
    const zone = freshZone();
    const [a] = await addHosts(zone, "m5", 1);
    expect((await launch({ instanceType: "m5.large", availabilityZone: zone, maxCount: 40 })).status).toBe(
      201,
    );
    const [b] = await addHosts(zone, "m5", 1);
    await breakHost(b.hostId);
    return { zone, a, b };
  }

  it("answers with what the host before it committed", async () => {
    const { zone, a } = await fleetOfTwo();
    const res = await launch({ instanceType: "m5.large", availabilityZone: zone, minCount: 1, maxCount: 20 });
    expect(res.status).toBe(201);
    expect(res.body.instances).toHaveLength(8);
    expect(res.body.instances.every((i) => i.hostId === a.hostId)).toBe(true);
    expect((await hostView(a.hostId)).vms).toHaveLength(48);
  });

  it("with nothing committed, says the silent host's outcome is unknown and gives the holds back", async () => {
    const { zone, a, b } = await fleetOfTwo();
    const res = await launch({
      instanceType: "m5.large",
      availabilityZone: zone,
      minCount: 20,
      maxCount: 20,
    });
    expect(res.status).toBe(500);
    expect(res.body.code).toBe("InternalError");
    expect(res.body.detail).toContain(b.hostId);
    const view = await hostView(a.hostId);
    expect(view.heldIds).toEqual([]);
    expect(view.vms).toHaveLength(40);
  });
});
