// What one answer of a host object may carry. Workers serialize an RPC value up to 32 MiB,
// and a host's events are O(its VMs) when a settle or a failure touches all of them, so
// an answer carries its events up to a byte budget: the caller's own first, then those
// about the instances it named, then the rest. What is left out still reaches D1: the
// events are in the outbox, stored with the change, and the queue delivers them.
import type { FleetEvent } from "../sim/records";

/**
 * A quarter of the RPC limit. The largest change a caller asks for, a launch of the most
 * instances a launch may carry, fits whole (test/integration/host-answers.test.ts checks it).
 */
export const ANSWER_EVENT_BYTES = 8 * 1024 * 1024;

/** Which events an answer carries first: the call's own, then about the instances it named. */
export enum Priority {
  Own = 0,
  Subject = 1,
  Other = 2,
}

export interface AnswerEvents {
  events: FleetEvent[];
  /** Events the call caused that the answer leaves out; the outbox delivers them. */
  omitted: number;
}

/**
 * The events an answer carries, in the order the model made them (the D1 log keeps that
 * order). They are chosen by priority, in order within one, until the next would pass the
 * budget; `sizes` are the events' bytes as the outbox stored them.
 */
export function answerEvents(
  events: readonly FleetEvent[],
  sizes: readonly number[],
  priority: (e: FleetEvent, index: number) => Priority,
  budget = ANSWER_EVENT_BYTES,
): AnswerEvents {
  const chosen = choose(events, sizes, priority, budget);
  return { events: events.filter((_e, i) => chosen.has(i)), omitted: events.length - chosen.size };
}

function choose(
  events: readonly FleetEvent[],
  sizes: readonly number[],
  priority: (e: FleetEvent, index: number) => Priority,
  budget: number,
): Set<number> {
  const ranked = events.map((e, i) => ({ i, p: priority(e, i) }));
  // A stable sort keeps each priority in the model's order.
  ranked.sort((a, b) => a.p - b.p);
  const chosen = new Set<number>();
  let bytes = 0;
  for (const { i } of ranked) {
    if (bytes + sizes[i] > budget) break;
    chosen.add(i);
    bytes += sizes[i];
  }
  return chosen;
}

/**
 * The events of one call made of several callers' parts (a group of admissions, host-object
 * `placeMany`), one answer per part. Every event goes to one part: a part's own changes to it,
 * an event the call's settle made to the first part that named its instance, or else to the
 * first part; each event reaches D1 through the placement that gets it (and the outbox in any
 * case). The whole call's answer keeps to one budget, chosen as `answerEvents` chooses: own
 * events of every part first, then those about named instances, then the rest; a part counts
 * as omitted those of its events that did not fit.
 *
 * `owner[i]` is the part whose own change made event i, or -1 for the settle's.
 */
export function answerParts(
  events: readonly FleetEvent[],
  sizes: readonly number[],
  owner: readonly number[],
  subjects: readonly (readonly string[])[],
  budget = ANSWER_EVENT_BYTES,
): AnswerEvents[] {
  const named = new Map<string, number>();
  subjects.forEach((ids, p) => {
    for (const id of ids) if (!named.has(id)) named.set(id, p);
  });
  const part = events.map((e, i) =>
    owner[i] >= 0 ? owner[i] : e.instanceId !== null ? (named.get(e.instanceId) ?? 0) : 0,
  );
  const chosen = choose(
    events,
    sizes,
    (e, i) =>
      owner[i] >= 0
        ? Priority.Own
        : e.instanceId !== null && named.has(e.instanceId)
          ? Priority.Subject
          : Priority.Other,
    budget,
  );
  const out = subjects.map((): AnswerEvents => ({ events: [], omitted: 0 }));
  events.forEach((e, i) => {
    if (chosen.has(i)) out[part[i]].events.push(e);
    else out[part[i]].omitted++;
  });
  return out;
}

/** The host memory view lists the largest owners of frames, this many at most. */
export const MEMORY_OWNERS_MAX = 256;

/** At most this many VMs in one page, and this many records in one `records` answer. */
export const VM_PAGE_MAX = 500;
export const RECORDS_MAX = 100;
