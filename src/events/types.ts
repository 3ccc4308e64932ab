// Every kind of event the fleet logs and delivers: the host models' own (sim/records.ts) and
// those the control plane makes about its own resources (alarms, subscriptions). Each kind
// has a version: a change to its data that a receiver could trip on is a new version.
import { FLEET_EVENT_TYPES } from "../sim/records";

export const CONTROL_EVENT_TYPES = ["alarm.state-changed", "subscription.disabled"] as const;
export type ControlEventType = (typeof CONTROL_EVENT_TYPES)[number];

export const EVENT_TYPES = [...FLEET_EVENT_TYPES, ...CONTROL_EVENT_TYPES] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The version of each kind's envelope (api/schemas/event-envelopes.ts describes each). */
export const EVENT_VERSIONS: Record<EventType, number> = {
  "instance.state-changed": 1,
  "instance.rebooted": 1,
  "instance.updated": 1,
  "host.created": 1,
  "host.state-changed": 1,
  "alarm.state-changed": 1,
  "subscription.disabled": 1,
};

export const ALARM_STATES = ["OK", "ALARM", "INSUFFICIENT_DATA"] as const;
export type AlarmState = (typeof ALARM_STATES)[number];

/**
 * Whether `type` matches one of `patterns`: an exact type, `*` for every type, or a prefix
 * ending in `.*` (`instance.*`).
 */
export function matchesType(type: string, patterns: readonly string[]): boolean {
  return patterns.some(
    (p) => p === "*" || p === type || (p.endsWith(".*") && type.startsWith(p.slice(0, -1))),
  );
}

/** Event type patterns as subscriptions take them: a known type, `*`, or a known prefix then `.*`. */
export function isTypePattern(p: string): boolean {
  if (p === "*" || (EVENT_TYPES as readonly string[]).includes(p)) return true;
  return p.endsWith(".*") && EVENT_TYPES.some((t) => t.startsWith(p.slice(0, -1)));
}
