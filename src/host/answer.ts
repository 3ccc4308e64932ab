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
  return { events: events.filter((_e, i) => chosen.has(i)), omitted: events.length - chosen.size };
}

/** The host memory view lists the largest owners of frames, this many at most. */
export const MEMORY_OWNERS_MAX = 256;

/** At most this many VMs in one page, and this many records in one `records` answer. */
export const VM_PAGE_MAX = 500;
export const RECORDS_MAX = 100;
