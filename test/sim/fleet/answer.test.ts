import { describe, expect, it } from "vitest";
import { ANSWER_EVENT_BYTES, answerEvents, Priority } from "../../../src/host/answer";
import type { FleetEvent } from "../../../src/sim/records";

function event(id: string, instanceId: string | null): FleetEvent {
  return {
    id,
    type: "instance.state-changed",
    time: 0,
    hostId: "h-1",
    instanceId,
    previousState: "pending",
    state: "running",
    instance: null,
    host: null,
    hostRecord: null,
  };
}

describe("the events a host object's answer carries", () => {
  // Five settled transitions (incidental), then the call's own two events.
  const events = [
    event("s0", "i-a"),
    event("s1", "i-b"),
    event("s2", "i-c"),
    event("s3", "i-b"),
    event("s4", "i-d"),
    event("o0", "i-e"),
    event("o1", "i-f"),
  ];
  const ownFrom = 5;
  const subjects = new Set(["i-b"]);
  const priority = (e: FleetEvent, i: number) =>
    i >= ownFrom ? Priority.Own : subjects.has(e.instanceId ?? "") ? Priority.Subject : Priority.Other;

  it("carries them all, in the model's order, when they fit", () => {
    const res = answerEvents(
      events,
      events.map(() => 100),
      priority,
      10_000,
    );
    expect(res.events.map((e) => e.id)).toEqual(["s0", "s1", "s2", "s3", "s4", "o0", "o1"]);
    expect(res.omitted).toBe(0);
  });

  it("within its budget takes the call's own first, then the named instances', in the model's order", () => {
    // Room for four of seven: the two own ones, then the two about i-b.
    const res = answerEvents(
      events,
      events.map(() => 100),
      priority,
      450,
    );
    expect(res.events.map((e) => e.id)).toEqual(["s1", "s3", "o0", "o1"]);
    expect(res.omitted).toBe(3);
  });

  it("stops at the first event that would pass the budget, so what it carries is a prefix by priority", () => {
    const sizes = [10, 10, 10, 10, 10, 10, 500];
    const res = answerEvents(events, sizes, priority, 100);
    // o1 does not fit; nothing after it in priority order is taken in its place.
    expect(res.events.map((e) => e.id)).toEqual(["o0"]);
    expect(res.omitted).toBe(6);
  });

  it("holds to a budget a quarter of the 32 MiB limit on an RPC value", () => {
    expect(ANSWER_EVENT_BYTES).toBe(32 * 1024 * 1024 * 0.25);
    const sizes = events.map(() => 3 * 1024 * 1024);
    const res = answerEvents(events, sizes, priority);
    expect(res.events.length).toBe(2);
    expect(res.events.length * 3 * 1024 * 1024).toBeLessThanOrEqual(ANSWER_EVENT_BYTES);
  });
});
