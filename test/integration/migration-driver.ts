// Delivers live-migration steps as the queue would, in a test's own order. A step that is due later in
// simulated time (the switch, post-copy's last page) waits; when only such steps are left, the clock
// advances to the soonest, as a manual clock's operator would.
import { env } from "cloudflare:workers";
import { OPERATOR } from "../../src/fleet/accounts";
import { Fleet } from "../../src/fleet/context";
import { runStep, type StepMessage } from "../../src/fleet/migration-steps";
import { advance, call } from "./helpers";

export const clockNow = async () => (await call<{ nowMs: number }>("GET", "/v1/clock")).body.nowMs;

/** Runs one step with a fleet that reads the clock afresh (a fleet keeps the clock it first read). */
export const step = (msg: StepMessage) => runStep(new Fleet(env, OPERATOR), msg);

/** Every step of each migration, whichever its row is at: those not due are no-ops, the due one starts. */
export const allSteps = (migrationIds: string[]): StepMessage[] =>
  migrationIds.flatMap((migrationId) =>
    (["reserve", "precopy", "switch", "release"] as const).map((s) => ({ migrationId, step: s })),
  );

/** Delivers until none is left: each message `copies` times, in an order `pick` chooses among those due. */
export async function driveSteps(
  first: StepMessage[],
  copies = 1,
  pick: (n: number) => number = () => 0,
): Promise<number> {
  const queue: StepMessage[] = [];
  for (const m of first) for (let c = 0; c < copies; c++) queue.push(m);
  let delivered = 0;
  // Only an advance moves a manual clock, and this loop makes every advance it waits for.
  let now = await clockNow();
  const ids = [...new Set(first.map((m) => m.migrationId))];
  for (let sweeps = 0; sweeps < 20; sweeps++) {
    if (queue.length === 0) {
      // The queue's consumer runs steps too: a step that lost its row to it ends with nothing to
      // send, and the consumer carries on. As reconcile would, send each open migration's step again.
      const open = await openSteps(ids);
      if (open.length === 0) break;
      queue.push(...open);
    }
    delivered += await drain(
      queue,
      copies,
      pick,
      () => now,
      (t) => {
        now = t;
      },
    );
  }
  return delivered;
}

/** The step each of these migrations is at, for those not done. */
async function openSteps(ids: string[]): Promise<StepMessage[]> {
  if (ids.length === 0) return [];
  const rows = await env.DB.prepare(
    `SELECT id, step FROM migrations WHERE step <> 'done' AND id IN (${ids.map(() => "?").join(",")})`,
  )
    .bind(...ids)
    .all<{ id: string; step: StepMessage["step"] }>();
  return rows.results.map((r) => ({ migrationId: r.id, step: r.step }));
}

async function drain(
  queue: StepMessage[],
  copies: number,
  pick: (n: number) => number,
  getNow: () => number,
  setNow: (t: number) => void,
): Promise<number> {
  let delivered = 0;
  while (queue.length > 0) {
    const now = getNow();
    const due = queue.flatMap((m, i) => (m.at === undefined || m.at <= now ? [i] : []));
    if (due.length === 0) {
      const soonest = Math.min(...queue.map((m) => m.at!));
      setNow((await advance(Math.max(1, Math.ceil((soonest - now) / 1000)))).nowMs);
      continue;
    }
    const [msg] = queue.splice(due[pick(due.length) % due.length], 1);
    delivered++;
    for (const next of await step(msg)) for (let c = 0; c < copies; c++) queue.push(next);
  }
  return delivered;
}

/** Drives a migration from wherever its row is to its end, and answers its view. */
export async function finishMigration<T = { status: string; destinationHostId: string | null }>(
  migrationId: string,
  copies = 1,
  pick?: (n: number) => number,
): Promise<T> {
  await driveSteps(allSteps([migrationId]), copies, pick);
  return (await call<T>("GET", `/v1/migrations/${migrationId}`)).body;
}
