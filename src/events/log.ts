// Events the control plane makes about its own resources (an alarm's state, a subscription
// disabled): logged in D1 beside the hosts' events, once per id, and fanned out to webhooks.
import type { Db } from "../db/client";
import type { ControlEventType } from "./types";

export interface ControlEvent {
  id: string;
  type: ControlEventType;
  accountId: string;
  /** Simulated time. */
  time: number;
  resourceId: string;
  previousState: string | null;
  state: string;
  data: Record<string, unknown>;
}

/** The statement that logs `e`; a second time changes nothing. */
export function logStatement(db: Db, e: ControlEvent): D1PreparedStatement {
  return db.$client
    .prepare(
      `INSERT INTO events (id, account_id, type, time, host_id, instance_id, state, previous_state, body, wall_time, resource_id)
       VALUES (?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
    )
    .bind(
      e.id,
      e.accountId,
      e.type,
      e.time,
      e.state,
      e.previousState,
      JSON.stringify({ data: e.data }),
      Date.now(),
      e.resourceId,
    );
}
