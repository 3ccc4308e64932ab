import { describe, expect, it } from "vitest";
import { ANSWER_EVENT_BYTES, answerEvents, answerParts, Priority } from "../../../src/host/answer";
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

describe("the events of a grouped host call, one answer per caller", () => {
  // The settle's three events, then caller 0's own event, then caller 1's two.
  const events = [
    event("s0", "i-a"),
    event("s1", "i-x"),
    event("s2", "i-b"),
    event("o0", "i-a"),
    event("o1", "i-x"),
    event("o2", "i-y"),
  ];
  const owner = [-1, -1, -1, 0, 1, 1];
  const subjects = [["i-a"], ["i-x", "i-y"]];

  it("gives each caller its own events, and the settle's about an instance to the caller that named it", () => {
    const [a, b] = answerParts(
      events,
      events.map(() => 100),
      owner,
      subjects,
      10_000,
    );
    // s2 is about an instance nobody named: the first caller takes it.
    expect(a.events.map((e) => e.id)).toEqual(["s0", "s2", "o0"]);
    expect(b.events.map((e) => e.id)).toEqual(["s1", "o1", "o2"]);
    expect(a.omitted + b.omitted).toBe(0);
  });

  it("shares one budget: every caller's own events first, then named instances', each caller counting what it lost", () => {
    // Room for four of six: the three own events, then s0 (named by caller 0) in the model's order.
    const [a, b] = answerParts(
      events,
      events.map(() => 100),
      owner,
      subjects,
      450,
    );
    expect(a.events.map((e) => e.id)).toEqual(["s0", "o0"]);
    expect(b.events.map((e) => e.id)).toEqual(["o1", "o2"]);
    expect(a.omitted).toBe(1);
    expect(b.omitted).toBe(1);
  });

  it("answers a call of one caller as answerEvents does", () => {
    const one = [-1, -1, -1, 0, 0, 0];
    for (const budget of [10_000, 450, 250, 50]) {
      const sizes = events.map(() => 100);
      const [only] = answerParts(events, sizes, one, [["i-x"]], budget);
      const alone = answerEvents(
        events,
        sizes,
        (e, i) => (one[i] >= 0 ? Priority.Own : e.instanceId === "i-x" ? Priority.Subject : Priority.Other),
        budget,
      );
      expect(only).toEqual(alone);
    }
  });
});
