// A metric alarm on an instance's real samples: it fires when a CPU-bound workload keeps
// CPUUtilization above its threshold for two periods, and clears when the guest goes idle;
// each change of state is an event in the account's log, and nobody else's.
import { describe, expect, it } from "vitest";
import {
  ADMIN_KEY,
  addHosts,
  advance,
  bearer,
  call,
  freshZone,
  launch,
  newTenant,
  type Problem,
} from "./helpers";

async function until<T>(fn: () => Promise<T | null>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error("timed out waiting for the queue");
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface AlarmBody {
  alarmId: string;
  stateValue: string;
  stateReason: string;
}

describe("a metric alarm", () => {
  it("fires on a CPU-bound workload and clears when the guest idles, each change an event", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "c5", 1);
    const t = await newTenant("alarmed");
    const key = bearer(t.apiKey);
    const inst = (await launch({ instanceType: "c5.large", availabilityZone: zone, workload: "idle" }, key))
      .body.instances[0];
    await advance(30);
    const created = await call<AlarmBody>(
      "POST",
      "/v1/alarms",
      {
        alarmName: "cpu-high",
        metricName: "CPUUtilization",
        dimensions: { InstanceId: inst.instanceId },
        statistic: "Average",
        period: 60,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        threshold: 50,
        comparisonOperator: "GreaterThanThreshold",
      },
      key,
    );
    expect(created.status).toBe(201);
    expect(created.body.stateValue).toBe("INSUFFICIENT_DATA");
    const id = created.body.alarmId;
    const state = async () => (await call<AlarmBody>("GET", `/v1/alarms/${id}`, undefined, key)).body;

    /** A simulated minute, then a call to the host, which samples it. */
    const minute = async () => {
      await advance(60);
      await call("GET", `/v1/hosts/${host.hostId}`, undefined, bearer(ADMIN_KEY));
    };
    await minute();
    await minute();
    await until(async () => ((await state()).stateValue === "OK" ? true : null));

    expect(
      (await call("PUT", `/v1/instances/${inst.instanceId}/workload`, { profile: "cpu_intensive" }, key))
        .status,
    ).toBe(200);
    for (let i = 0; i < 3; i++) await minute();
    const fired = await until(async () => {
      const s = await state();
      return s.stateValue === "ALARM" ? s : null;
    });
    expect(fired.stateReason).toMatch(/^2 of the last 2 datapoints/);

    expect(
      (await call("PUT", `/v1/instances/${inst.instanceId}/workload`, { profile: "idle" }, key)).status,
    ).toBe(200);
    for (let i = 0; i < 3; i++) await minute();
    await until(async () => ((await state()).stateValue === "OK" ? true : null));

    const log = await call<{
      events: { type: string; previousState: string; state: string; resourceId: string }[];
    }>("GET", `/v1/events?type=alarm.state-changed&resourceId=${id}`, undefined, key);
    expect(log.body.events.map((e) => `${e.previousState}>${e.state}`)).toEqual([
      "INSUFFICIENT_DATA>OK",
      "OK>ALARM",
      "ALARM>OK",
    ]);
    const other = await newTenant("bystander");
    const theirs = await call<{ events: unknown[] }>(
      "GET",
      `/v1/events?resourceId=${id}`,
      undefined,
      bearer(other.apiKey),
    );
    expect(theirs.body.events).toEqual([]);
    expect((await call("GET", `/v1/alarms/${id}`, undefined, bearer(other.apiKey))).status).toBe(404);
  });

  it("refuses a host's metric, a duplicate name and a window past a day, naming the field", async () => {
    const t = await newTenant("alarm-bad");
    const key = bearer(t.apiKey);
    const base = {
      alarmName: "a",
      metricName: "CPUUtilization",
      statistic: "Average",
      period: 60,
      evaluationPeriods: 1,
      threshold: 1,
      comparisonOperator: "GreaterThanThreshold",
    };
    expect((await call("POST", "/v1/alarms", base, key)).status).toBe(201);
    const dup = await call<Problem>("POST", "/v1/alarms", base, key);
    expect(dup.status).toBe(409);
    expect(dup.body.detail).toMatch(/^alarmName:/);
    const host = await call<Problem>(
      "POST",
      "/v1/alarms",
      { ...base, alarmName: "b", metricName: "HostCPUUtilization" },
      key,
    );
    expect(host.status).toBe(400);
    expect(host.body.detail).toMatch(/^metricName:/);
    // CloudWatch's bounds: a day of periods under an hour, seven days of longer ones.
    const day = await call<Problem>(
      "POST",
      "/v1/alarms",
      { ...base, alarmName: "c", period: 300, evaluationPeriods: 289 },
      key,
    );
    expect(day.body.detail).toMatch(/^evaluationPeriods: .* 86400 seconds for periods under an hour/);
    const week = await call<Problem>(
      "POST",
      "/v1/alarms",
      { ...base, alarmName: "c", period: 3600, evaluationPeriods: 169 },
      key,
    );
    expect(week.body.detail).toMatch(/^evaluationPeriods: .* 604800 seconds$/);
    expect(
      (
        await call(
          "POST",
          "/v1/alarms",
          { ...base, alarmName: "c", period: 3600, evaluationPeriods: 168 },
          key,
        )
      ).status,
    ).toBe(201);
    const m = await call<Problem>(
      "POST",
      "/v1/alarms",
      { ...base, alarmName: "d", datapointsToAlarm: 2 },
      key,
    );
    expect(m.body.detail).toMatch(/^datapointsToAlarm:/);
    const odd = await call<Problem>("POST", "/v1/alarms", { ...base, alarmName: "e", period: 90 }, key);
    expect(odd.body.detail).toMatch(/^period:/);
    const list = await call<{ alarms: { alarmName: string }[] }>("GET", "/v1/alarms", undefined, key);
    expect(list.body.alarms.map((a) => a.alarmName).sort()).toEqual(["a", "c"]);
  });
});
