import { describe, expect, it } from "vitest";
import { findInstanceType, HOST_SHAPES } from "../../../src/sim/catalog";
import { HostModel } from "../../../src/sim/host";
import { type HostRecord, type InstanceRecord, offeredInstance } from "../../../src/sim/records";

const host: HostRecord = {
  hostId: "h-1",
  zone: "us-east-1a",
  rack: "us-east-1a-rack-1",
  family: "m5",
  hypervisor: "nitro",
  state: "available",
  createdAt: 0,
  hw: HOST_SHAPES.m5,
};

const offered: InstanceRecord = offeredInstance(findInstanceType("m5.large")!, {
  instanceId: "i-1",
  accountId: "123456789012",
  reservationId: "r-1",
  tags: { team: "web" },
});

describe("an instance's events", () => {
  it("carry its tags in the first only, while the host keeps them in its record", () => {
    let n = 0;
    const m = new HostModel(host, [], 0, () => `e${n++}`);
    const launched = m.admit([offered], 0, { commitIfAtLeast: 1, holdExpiresWallMs: 0 }).changes.events;
    const later = [
      ...m.settle(60_000).events,
      ...m.act("i-1", "reboot", 61_000).changes.events,
      ...m.setWorkload("i-1", "cpu_intensive", 62_000).changes.events,
      ...m.act("i-1", "stop", 63_000).changes.events,
      ...m.settle(200_000).events,
    ];
    expect(launched.map((e) => [e.previousState, e.instance?.tags])).toEqual([[null, { team: "web" }]]);
    expect(later.map((e) => e.state)).toEqual(["running", "running", "running", "stopping", "stopped"]);
    expect(later.every((e) => e.instance !== null && !("tags" in e.instance))).toBe(true);
  });
});
