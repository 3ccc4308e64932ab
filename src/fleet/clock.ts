// The fleet's simulated clock, kept in D1 so every isolate and every host agrees on it.
import { eq, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { simClock } from "../db/schema";
import { type ClockMode, type ClockState, reanchor, simNow } from "../sim/clock";

/** Manual clocks start here, so tests and scenarios see the same timestamps every run. */
export const MANUAL_EPOCH_MS = Date.UTC(2026, 0, 1);

export function defaultClock(env: Env, wallMs: number): ClockState {
  const mode: ClockMode = env.SIM_CLOCK === "manual" ? "manual" : "scaled";
  const scale = Number(env.SIM_TIME_SCALE) > 0 ? Number(env.SIM_TIME_SCALE) : 1;
  return {
    mode,
    scale,
    anchorWallMs: wallMs,
    anchorSimMs: mode === "manual" ? MANUAL_EPOCH_MS : wallMs,
    generation: 0,
  };
}

function fromRow(row: typeof simClock.$inferSelect): ClockState {
  return {
    mode: row.mode as ClockMode,
    scale: row.scale,
    anchorWallMs: row.anchorWallMs,
    anchorSimMs: row.anchorSimMs,
    generation: row.generation,
  };
}

export async function readClock(db: Db, env: Env): Promise<ClockState> {
  const row = await db.select().from(simClock).where(eq(simClock.id, 1)).get();
  if (row) return fromRow(row);
  const fresh = defaultClock(env, Date.now());
  await db
    .insert(simClock)
    .values({ id: 1, ...fresh })
    .onConflictDoNothing();
  const stored = await db.select().from(simClock).where(eq(simClock.id, 1)).get();
  return stored ? fromRow(stored) : fresh;
}

async function write(db: Db, clock: ClockState): Promise<void> {
  await db
    .insert(simClock)
    .values({ id: 1, ...clock })
    .onConflictDoUpdate({ target: simClock.id, set: { ...clock } });
}

/** Moves simulated time forward; shifting the anchor is atomic and right in either mode. */
export async function advanceClock(db: Db, env: Env, byMs: number): Promise<ClockState> {
  await readClock(db, env);
  await db
    .update(simClock)
    .set({ anchorSimMs: sql`${simClock.anchorSimMs} + ${byMs}`, generation: sql`${simClock.generation} + 1` })
    .where(eq(simClock.id, 1));
  return readClock(db, env);
}

export async function configureClock(
  db: Db,
  env: Env,
  change: { mode?: ClockMode; scale?: number },
): Promise<ClockState> {
  const next = reanchor(await readClock(db, env), Date.now(), change);
  await write(db, next);
  return next;
}

export function clockView(clock: ClockState) {
  const now = simNow(clock, Date.now());
  return { mode: clock.mode, scale: clock.scale, now: new Date(now).toISOString(), nowMs: now };
}
