// Group commit of D1 batches: while one batch of this isolate is on its way to D1, the
// batches other requests send wait, and go together as one batch when it is back. A lone
// request's batch goes at once, as before; under load one round trip carries many
// requests' statements, and what D1 costs per round trip is paid once for all of them.
//
// A D1 batch is one transaction. Batches sent together commit or fail together, so when a
// combined batch fails, each request's batch goes again alone and gets its own outcome:
// what a request sees is what it would have seen sending alone.
//
// Who sends: Workers runs a request's I/O in that request's context and may cancel it once
// the request is over, so a combined batch is sent by one of its own members, which waits
// for it, and under `waitUntil`, so that even a member whose client went away sees it
// through. When a batch comes back, every waiting request wakes in its own context; the
// first to run takes the waiting batches (its own first) and sends them.
import { waitUntil } from "cloudflare:workers";

/** Statements in one combined batch at most; a request's own batch is never split. */
export const GROUP_STATEMENTS = 400;

type Outcome = { ok: true; results: D1Result[] } | { ok: false; err: unknown };

interface Waiter {
  statements: D1PreparedStatement[];
  /** The flight that carries this batch, once one does, and where its outcome is in it. */
  flight: Promise<Outcome[]> | null;
  index: number;
}

// Workers lets a request await a promise that another request made and settles, but not
// settle one that another request made: so every promise here is settled by the request
// that made it. A flight is made by its sender, and its members await it.
class GroupCommit {
  /** The flight in the air, if one is; settles (never rejects) once it is back. */
  private current: Promise<unknown> | null = null;
  private queue: Waiter[] = [];

  constructor(private readonly d1: D1Database) {}

  async batch<T = unknown>(statements: D1PreparedStatement[]): Promise<D1Result<T>[]> {
    const w: Waiter = { statements, flight: null, index: -1 };
    this.queue.push(w);
    for (;;) {
      if (w.flight) {
        const outcome = (await w.flight)[w.index];
        if (outcome.ok) return outcome.results as D1Result<T>[];
        throw outcome.err;
      }
      if (this.current) await this.current;
      else this.sendFrom(w);
    }
  }

  /** Sends `w`'s batch with those waiting beside it, from `w`'s request. */
  private sendFrom(w: Waiter): void {
    const group = [w];
    let count = w.statements.length;
    const rest: Waiter[] = [];
    for (const x of this.queue) {
      if (x === w) continue;
      if (count + x.statements.length <= GROUP_STATEMENTS) {
        group.push(x);
        count += x.statements.length;
      } else rest.push(x);
    }
    this.queue = rest;
    const flight = this.send(group);
    group.forEach((x, i) => {
      x.flight = flight;
      x.index = i;
    });
    const current = flight.then(() => {
      if (this.current === current) this.current = null;
    });
    this.current = current;
    try {
      // A member whose client went away still sees its flight through, and so do the others.
      waitUntil(current);
    } catch {
      // Outside any request there is nothing to keep alive.
    }
  }

  /** Each member's outcome, as if it had gone alone. */
  private async send(group: Waiter[]): Promise<Outcome[]> {
    const alone = (x: Waiter): Promise<Outcome> =>
      this.d1.batch(x.statements).then(
        (results) => ({ ok: true, results }),
        (err: unknown) => ({ ok: false, err }),
      );
    if (group.length === 1) return [await alone(group[0])];
    let results: D1Result[];
    try {
      results = await this.d1.batch(group.flatMap((x) => x.statements));
    } catch {
      // Together they failed, which may be one member's doing: each alone gets its own outcome.
      return Promise.all(group.map(alone));
    }
    let at = 0;
    return group.map((x) => {
      const mine = results.slice(at, at + x.statements.length);
      at += x.statements.length;
      return { ok: true, results: mine };
    });
  }
}

const wrapped = new WeakMap<D1Database, D1Database>();
const raw = new WeakMap<D1Database, D1Database>();

/**
 * `d1` with its `batch` sent by group commit (everything else as it is). One per binding,
 * so that every request of the isolate shares it.
 */
export function groupCommitting(d1: D1Database): D1Database {
  const known = wrapped.get(d1);
  if (known) return known;
  const group = new GroupCommit(d1);
  const proxy = new Proxy(d1, {
    get(target, prop) {
      if (prop === "batch") return (statements: D1PreparedStatement[]) => group.batch(statements);
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  wrapped.set(d1, proxy);
  raw.set(proxy, d1);
  return proxy;
}

/** The binding itself behind a group-committing one (isolate caches are keyed by it). */
export function bindingOf(d1: D1Database): D1Database {
  return raw.get(d1) ?? d1;
}
