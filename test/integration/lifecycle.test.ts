import { describe, expect, it } from "vitest";
import { addHosts, advance, call, freshZone, getInstance, hostView, launch } from "./helpers";

type State = "pending" | "running" | "stopping" | "stopped" | "shutting-down" | "terminated";
type Action = "start" | "stop" | "reboot" | "terminate";

// What EC2 does for each action in each state: the resulting state, or IncorrectInstanceState.
const EXPECTED: Record<State, Record<Action, State | "illegal">> = {
  pending: { start: "pending", stop: "illegal", reboot: "illegal", terminate: "shutting-down" },
  running: { start: "running", stop: "stopping", reboot: "running", terminate: "shutting-down" },
  stopping: { start: "illegal", stop: "stopping", reboot: "illegal", terminate: "shutting-down" },
  stopped: { start: "pending", stop: "stopped", reboot: "illegal", terminate: "terminated" },
  "shutting-down": { start: "illegal", stop: "illegal", reboot: "illegal", terminate: "shutting-down" },
  terminated: { start: "illegal", stop: "illegal", reboot: "illegal", terminate: "terminated" },
};

const CODES: Record<State, number> = {
  pending: 0,
  running: 16,
  "shutting-down": 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

async function doAction(id: string, action: Action) {
  return action === "terminate"
    ? call<{ currentState: { name: string; code: number }; code?: string }>("DELETE", `/v1/instances/${id}`)
    : call<{ currentState: { name: string; code: number }; code?: string }>(
        "POST",
        `/v1/instances/${id}/${action}`,
      );
}

/** Launches one instance and walks it into `state` through the API. */
async function instanceIn(zone: string, state: State): Promise<string> {
  const res = await launch({ instanceType: "m5.large", availabilityZone: zone });
  expect(res.status).toBe(201);
  const id = res.body.instances[0].instanceId;
  if (state === "pending") return id;
  await advance(60);
  if (state === "running") return id;
  if (state === "stopping" || state === "stopped") {
    expect((await doAction(id, "stop")).status).toBe(200);
    if (state === "stopped") await advance(60);
    return id;
  }
  expect((await doAction(id, "terminate")).status).toBe(200);
  if (state === "terminated") await advance(60);
  return id;
}

describe("the EC2 state machine", () => {
  for (const state of Object.keys(EXPECTED) as State[]) {
    for (const action of Object.keys(EXPECTED[state]) as Action[]) {
      const expected = EXPECTED[state][action];
      it(`${action} on a ${state} instance ${expected === "illegal" ? "is IncorrectInstanceState and changes nothing" : `leaves it ${expected}`}`, async () => {
        const zone = freshZone();
        await addHosts(zone, "m5", 1);
        const id = await instanceIn(zone, state);
        const before = await getInstance(id);
        expect(before.body.state.name).toBe(state);
        const res = await doAction(id, action);
        if (expected === "illegal") {
          expect(res.status).toBe(409);
          expect(res.body.code).toBe("IncorrectInstanceState");
          expect((await getInstance(id)).body.state).toEqual(before.body.state);
        } else {
          expect(res.status).toBe(200);
          expect(res.body.currentState).toEqual({ name: expected, code: CODES[expected] });
          expect((await getInstance(id)).body.state.name).toBe(expected);
        }
      });
    }
  }
});

describe("a whole life", () => {
  it("launches pending, runs after simulated boot time, stops, starts and terminates, with the host's resources following", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "m5", 1);
    const res = await launch({ instanceType: "m5.xlarge", availabilityZone: zone, tags: { app: "web" } });
    expect(res.status).toBe(201);
    const inst = res.body.instances[0];
    expect(inst.state).toEqual({ code: 0, name: "pending" });
    expect(inst.hostId).toBe(host.hostId);
    expect(inst.cpuPinning).toHaveLength(4);

    // Boot takes simulated time: one second is not enough, a minute is.
    await advance(1);
    expect((await getInstance(inst.instanceId)).body.state.name).toBe("pending");
    await advance(60);
    expect((await getInstance(inst.instanceId)).body.state.name).toBe("running");

    expect((await hostView(host.hostId)).usage.capacity.vcpus.used).toBe(4);
    await call("POST", `/v1/instances/${inst.instanceId}/stop`);
    await advance(60);
    const stopped = await getInstance(inst.instanceId);
    expect(stopped.body.state.name).toBe("stopped");
    expect(stopped.body.hostId).toBeNull();
    // Stop gives the vCPUs and memory back to the host.
    expect((await hostView(host.hostId)).usage.capacity.vcpus.used).toBe(0);

    await call("POST", `/v1/instances/${inst.instanceId}/start`);
    expect((await getInstance(inst.instanceId)).body.state.name).toBe("pending");
    await advance(60);
    expect((await getInstance(inst.instanceId)).body.state.name).toBe("running");

    await call("DELETE", `/v1/instances/${inst.instanceId}`);
    await advance(60);
    expect((await getInstance(inst.instanceId)).body.state).toEqual({ code: 48, name: "terminated" });
    expect((await hostView(host.hostId)).usage.capacity.vcpus.used).toBe(0);

    const events = await call<{ events: { state: string; previousState: string | null }[] }>(
      "GET",
      `/v1/events?instanceId=${inst.instanceId}`,
    );
    // A launch comes from nowhere; every later event names the state it left.
    expect(events.body.events[0].previousState).toBeNull();
    expect(events.body.events[4].previousState).toBe("stopped");
    expect(events.body.events.map((e) => e.state)).toEqual([
      "pending",
      "running",
      "stopping",
      "stopped",
      "pending",
      "running",
      "shutting-down",
      "terminated",
    ]);
  });

  it("keeps a terminated instance listed for about an hour, then forgets it", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5", 1);
    const id = (await launch({ instanceType: "m5.large", availabilityZone: zone })).body.instances[0]
      .instanceId;
    await call("DELETE", `/v1/instances/${id}`);
    await advance(60);
    const listed = await call<{ instances: { instanceId: string }[] }>(
      "GET",
      `/v1/instances?availabilityZone=${zone}`,
    );
    expect(listed.body.instances.map((i) => i.instanceId)).toContain(id);
    await advance(3600);
    const later = await call<{ instances: { instanceId: string }[] }>(
      "GET",
      `/v1/instances?availabilityZone=${zone}`,
    );
    expect(later.body.instances.map((i) => i.instanceId)).not.toContain(id);
    expect((await getInstance(id)).status).toBe(404);
  });

  it("may start a stopped instance on another host when its old host is full", async () => {
    const zone = freshZone();
    const [a, b] = await addHosts(zone, "m5", 2);
    const first = (await launch({ instanceType: "m5.12xlarge", availabilityZone: zone })).body.instances[0];
    await advance(60);
    await call("POST", `/v1/instances/${first.instanceId}/stop`);
    await advance(60);
    // Fill its old host while it is stopped.
    const filler = await launch({ instanceType: "m5.24xlarge", availabilityZone: zone });
    expect(filler.status).toBe(201);
    const fillerHost = filler.body.instances[0].hostId;
    await call("POST", `/v1/instances/${first.instanceId}/start`);
    const restarted = await getInstance(first.instanceId);
    expect(restarted.body.state.name).toBe("pending");
    expect(restarted.body.hostId).not.toBe(fillerHost);
    expect([a.hostId, b.hostId]).toContain(restarted.body.hostId);
  });
});
