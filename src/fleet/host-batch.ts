// Group commit of placements' calls to one host, on the calling side: while one call of this
// isolate's to host H is on its way, the calls other placements make to H wait, and go
// together as one `placeMany` when it is back, which the host runs as one host call
// (host/call-groups.ts groups what reaches it from several isolates the same way). A lone
// call goes at once; under load, with binpack sending most launches to the same fullest host,
// one round trip carries many placements' calls.
//
// Who sends: Workers runs a request's I/O in that request's context, and a request may await
// a promise another request made but may not settle one another request made. So a group is
// sent by one of its own members, from its own request, under `waitUntil` (a member whose
// client went away still sees it through); the others await that flight, and each takes its
// own answer from it. When a flight is back, the waiting callers wake in their own contexts
// and the first to run sends the next group. A group that fails is an error for each of its
// calls, as if the host had failed each: none is sent again alone, since the host may have
// stored them before the call failed.
import { waitUntil } from "cloudflare:workers";
import type { HostCallResult, HostObject } from "../host/host-object";
import {
  GROUP_MAX_CALLS,
  GROUP_MAX_RECORDS,
  opRecords,
  type PlacementOp,
  type PlacementOpResult,
} from "../host/placement-ops";
import type { Tenancy } from "../host/tenancy";
import { type ClockState, newer } from "../sim/clock";
import type { InstanceRecord } from "../sim/records";
import { hostStub } from "./host-stub";

type Namespace = DurableObjectNamespace<HostObject>;
type Answer = HostCallResult<PlacementOpResult>;
type Outcome = { ok: true; value: Answer } | { ok: false; err: unknown };

interface Waiter {
  op: PlacementOp;
  clock: ClockState;
  /** The flight that carries this call, once one does, and where its outcome is in it. */
  flight: Promise<Outcome[]> | null;
  index: number;
}

/** One host's calls from this isolate: the flight in the air, if one is, and the callers waiting. */
class Lane {
  /** Settles (never rejects) once the flight in the air is back. */
  private current: Promise<unknown> | null = null;
  private queue: Waiter[] = [];

  constructor(
    private readonly ns: Namespace,
    private readonly hostId: string,
    private readonly idle: () => void,
  ) {}

  get waiting(): number {
    return this.queue.length;
  }

  async call(op: PlacementOp, clock: ClockState): Promise<Answer> {
    const w: Waiter = { op, clock, flight: null, index: -1 };
    this.queue.push(w);
    for (;;) {
      if (w.flight) {
        const outcome = (await w.flight)[w.index];
        if (outcome.ok) return outcome.value;
        throw outcome.err;
      }
      if (this.current) await this.current;
      else this.sendFrom(w);
    }
  }

  /** Sends `w`'s call with those waiting behind it, as many as a group takes, from `w`'s request. */
  private sendFrom(w: Waiter): void {
    const group = [w];
    let records = opRecords(w.op);
    const rest: Waiter[] = [];
    for (const x of this.queue) {
      if (x === w) continue;
      const r = opRecords(x.op);
      // Later calls wait for the next group rather than pass one that did not fit.
      if (rest.length === 0 && group.length < GROUP_MAX_CALLS && records + r <= GROUP_MAX_RECORDS) {
        group.push(x);
        records += r;
      } else rest.push(x);
    }
    this.queue = rest;
    const flight = this.send(group);
    group.forEach((x, i) => {
      x.flight = flight;
      x.index = i;
    });
    const current = flight.then(() => {
      if (this.current !== current) return;
      this.current = null;
      if (this.queue.length === 0) this.idle();
    });
    this.current = current;
    try {
      waitUntil(current);
    } catch {
      // Outside any request there is nothing to keep alive.
    }
  }

  private async send(group: Waiter[]): Promise<Outcome[]> {
    // Each caller read the clock itself; the host keeps the newest, as it would across calls.
    const clock = group.reduce((c, x) => newer(c, x.clock), group[0].clock);
    try {
      const answers = await hostStub(this.ns, this.hostId).placeMany(
        group.map((x) => x.op),
        clock,
      );
      return answers.map((value) => ({ ok: true, value }));
    } catch (err) {
      return group.map(() => ({ ok: false, err }));
    }
  }
}

const lanes = new WeakMap<Namespace, Map<string, Lane>>();

function laneOf(ns: Namespace, hostId: string): Lane {
  let hosts = lanes.get(ns);
  if (!hosts) {
    hosts = new Map();
    lanes.set(ns, hosts);
  }
  const known = hosts.get(hostId);
  if (known) return known;
  const all = hosts;
  // An idle lane goes: the isolate keeps lanes only for the hosts being called.
  const lane: Lane = new Lane(ns, hostId, () => {
    if (all.get(hostId) === lane) all.delete(hostId);
  });
  hosts.set(hostId, lane);
  return lane;
}

/** Callers of this isolate waiting to send to `hostId` now. */
export function waitingCalls(ns: Namespace, hostId: string): number {
  return lanes.get(ns)?.get(hostId)?.waiting ?? 0;
}

/** Admits what fits of `instances` on the host, committed at once when `commitIfAtLeast` fit. */
export async function admitOn(
  ns: Namespace,
  hostId: string,
  instances: InstanceRecord[],
  commitIfAtLeast: number,
  clock: ClockState,
  tenancy: Tenancy = "default",
): Promise<HostCallResult<string[]>> {
  const op: PlacementOp = { op: "admit", instances, commitIfAtLeast, tenancy };
  return (await laneOf(ns, hostId).call(op, clock)) as HostCallResult<string[]>;
}

/** Commits admission holds on the host. */
export async function commitOn(
  ns: Namespace,
  hostId: string,
  ids: string[],
  clock: ClockState,
): Promise<HostCallResult<null>> {
  return (await laneOf(ns, hostId).call({ op: "commit", ids }, clock)) as HostCallResult<null>;
}

/** Gives admission holds on the host back. */
export async function cancelOn(
  ns: Namespace,
  hostId: string,
  ids: string[],
  clock: ClockState,
): Promise<HostCallResult<null>> {
  return (await laneOf(ns, hostId).call({ op: "cancel", ids }, clock)) as HostCallResult<null>;
}
