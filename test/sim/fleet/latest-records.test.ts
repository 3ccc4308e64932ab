import { describe, expect, it } from "vitest";
import { latestRecords } from "../../../src/fleet/mirror";
import { findInstanceType } from "../../../src/sim/catalog";
import {
  type EventInstance,
  type FleetEvent,
  type InstanceRecord,
  offeredInstance,
  withoutTags,
} from "../../../src/sim/records";

const base: InstanceRecord = {
  ...offeredInstance(findInstanceType("m5.large")!, {
    instanceId: "i-1",
    accountId: "123456789012",
    reservationId: "r-1",
    zone: "us-east-1a",
    tags: { team: "web" },
  }),
  hostId: "h-1",
  version: 1,
  threads: [0, 1],
};

const eventOf = (instance: EventInstance): FleetEvent => ({
  id: `e-${instance.instanceId}-${instance.version}`,
  type: "instance.state-changed",
  time: 0,
  hostId: "h-1",
  instanceId: instance.instanceId,
  previousState: null,
  state: instance.state,
  instance,
  host: null,
  hostRecord: null,
});

describe("the newest record of each instance among events", () => {
  const first = base;
  const running = withoutTags({ ...base, state: "running", stateCode: 16, version: 2 });

  it("keeps the newest version, with the tags only the first event carried, in either order", () => {
    for (const order of [
      [first, running],
      [running, first],
    ]) {
      expect(latestRecords(order.map(eventOf))).toEqual([{ ...running, tags: first.tags }]);
    }
  });

  it("leaves a record without tags when no event of the batch has them", () => {
    const [only] = latestRecords([eventOf(running)]);
    expect(only.version).toBe(2);
    expect(only.tags).toBeUndefined();
  });
});
