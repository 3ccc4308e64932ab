// What every fleet service needs for one request: who is calling, the bindings, the D1
// client, the clock (read once per request), and the stubs of host objects.

import { type Db, database } from "../db/client";
import { fanOut } from "../events/fanout";
import type { ClockState } from "../sim/clock";
import { simNow } from "../sim/clock";
import type { FleetEvent } from "../sim/records";
import type { Caller } from "./accounts";
import { readClock } from "./clock";
import { hostStub } from "./host-stub";

export class Fleet {
  readonly db: Db;
  private clockState: ClockState | null = null;

  constructor(
    readonly env: Env,
    /** Every service scopes what it reads and changes to this caller's account. */
    readonly caller: Caller,
    /** The clock, when the request has read it already (with its key, fleet/accounts.ts). */
    clock: ClockState | null = null,
  ) {
    if (!caller) throw new Error("a fleet request needs a caller");
    this.db = database(env.DB);
    this.clockState = clock;
  }

  async clock(): Promise<ClockState> {
    this.clockState ??= await readClock(this.db, this.env);
    return this.clockState;
  }

  async now(): Promise<number> {
    return simNow(await this.clock(), Date.now());
  }

  host(hostId: string) {
    return hostStub(this.env.HOST, hostId);
  }

  /** Events made outside any host (a stopped instance terminated): to the queue, or failing that straight to webhooks. */
  async publish(evs: readonly FleetEvent[]): Promise<void> {
    if (evs.length === 0) return;
    try {
      await this.env.EVENTS.sendBatch(evs.map((e) => ({ body: e, contentType: "json" as const })));
    } catch (err) {
      // The events are already in D1 (written with the change); the queue's consumer would have
      // fanned them out to webhooks, so that is done here from the log instead (idempotent by
      // subscription and event, and an event the log lacks makes no delivery).
      console.warn("fleet event publish failed; fanning out from the log", err);
      await fanOut(
        this.db,
        this.env.WEBHOOKS,
        evs.map((e) => e.id),
      ).catch((e) => console.warn("fanning out fleet events failed", e));
    }
  }
}
