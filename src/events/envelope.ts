// The one shape every event has outside the fleet (webhook bodies, the SSE stream): id,
// type and version, simulated and wall time, account, resource, and the kind's own data.
// Built from the event log's row, so every reader of an event sees the same envelope.
import type { FleetEvent } from "../sim/records";
import { EVENT_VERSIONS, type EventType } from "./types";

/** An event log row as the envelope needs it. */
export interface LoggedEvent {
  seq: number;
  id: string;
  accountId: string | null;
  type: string;
  time: number;
  wallTime: number | null;
  hostId: string | null;
  instanceId: string | null;
  resourceId: string | null;
  state: string;
  previousState: string | null;
  body: string;
}

export interface EventEnvelope {
  id: string;
  type: EventType;
  version: number;
  /** The log's order: the SSE stream's event id, and what a cursor points after. */
  seq: number;
  /** Simulated time of the event. */
  time: string;
  /** Wall time the fleet logged it; null for events logged before it kept one. */
  wallTime: string | null;
  accountId: string | null;
  resource: { type: "instance" | "host" | "alarm" | "subscription"; id: string };
  data: Record<string, unknown>;
}

const iso = (ms: number) => new Date(ms).toISOString();

function resourceOf(e: LoggedEvent): EventEnvelope["resource"] {
  if (e.type.startsWith("instance.") && e.instanceId) return { type: "instance", id: e.instanceId };
  if (e.type.startsWith("host.") && e.hostId) return { type: "host", id: e.hostId };
  if (e.type.startsWith("alarm.")) return { type: "alarm", id: e.resourceId ?? "" };
  return { type: "subscription", id: e.resourceId ?? "" };
}

function fleetData(e: LoggedEvent, f: FleetEvent): Record<string, unknown> {
  const i = f.instance;
  if (e.type.startsWith("instance.")) {
    return {
      instanceId: e.instanceId,
      instanceType: i?.instanceType ?? null,
      hostId: e.hostId,
      availabilityZone: i?.zone ?? null,
      previousState: e.previousState,
      state: e.state,
      stateReason: i?.stateReason ?? "",
    };
  }
  const h = f.hostRecord;
  return {
    hostId: e.hostId,
    availabilityZone: h?.zone ?? null,
    family: h?.family ?? null,
    hypervisor: h?.hypervisor ?? null,
    previousState: e.previousState,
    state: e.state,
  };
}

export function envelopeOf(e: LoggedEvent): EventEnvelope {
  const type = e.type as EventType;
  const body = JSON.parse(e.body) as Record<string, unknown>;
  const control = type.startsWith("alarm.") || type.startsWith("subscription.");
  return {
    id: e.id,
    type,
    version: EVENT_VERSIONS[type] ?? 1,
    seq: e.seq,
    time: iso(e.time),
    wallTime: e.wallTime === null ? null : iso(e.wallTime),
    accountId: e.accountId,
    resource: resourceOf(e),
    data: control ? (body.data as Record<string, unknown>) : fleetData(e, body as unknown as FleetEvent),
  };
}
