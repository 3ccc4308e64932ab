// The fleet's simulated clock, kept in D1 so every isolate and every host agrees on it.
import { eq, type SQL, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { simClock } from "../db/schema";
import { type ClockMode, type ClockState, simNow } from "../sim/clock";

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

export function fromRow(row: typeof simClock.$inferSelect): ClockState {
  return {
    mode: row.mode as ClockMode,
    scale: row.scale,
    anchorWallMs: row.anchorWallMs,
    anchorSimMs: row.anchorSimMs,
    generation: row.generation,
  };
}

/** The clock row, as a query another read can share a D1 round trip with (fleet/accounts.ts). */
export const clockQuery = (db: Db) => db.select().from(simClock).where(eq(simClock.id, 1));

/**
 * The clock row's columns of table (or alias) `t`, named as drizzle names them, for plain D1
 * statements: the reads every request makes (authentication), where building the query with
 * drizzle cost more CPU than the query itself (a profile of launches put it at half of
 * authenticating).
 */
export function clockColumns(t: string): string {
  return `${t}.id AS id, ${t}.mode AS mode, ${t}.anchor_wall_ms AS anchorWallMs, ${t}.anchor_sim_ms AS anchorSimMs, ${t}.scale AS scale, ${t}.generation AS generation`;
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

type ClockSet = Partial<{
  [K in keyof typeof simClock.$inferInsert]: (typeof simClock.$inferInsert)[K] | SQL;
}>;

/**
 * One conditional UPDATE of the clock row, every new value computed in SQL from the row as
 * it stands: a change can then never overwrite another made in between (a read, then a
 * write of the whole row, lost every advance that landed between the two).
 */
async function change(db: Db, env: Env, set: ClockSet): Promise<ClockState> {
  const update = () =>
    db
      .update(simClock)
      .set({ ...set, generation: sql`${simClock.generation} + 1` })
      .where(eq(simClock.id, 1))
      .returning()
      .get();
  const row = (await update()) ?? (await readClock(db, env).then(update));
  if (!row) throw new Error("the clock row is missing after it was created");
  return fromRow(row);
}

/** simNow (sim/clock.ts) in SQL over the clock row, with floor as Math.floor does it. */
export function simNowSql(wallMs: number): SQL {
  const x = sql`((${wallMs} - ${simClock.anchorWallMs}) * ${simClock.scale})`;
  const floor = sql`(CAST(${x} AS INTEGER) - (${x} < CAST(${x} AS INTEGER)))`;
  return sql`(${simClock.anchorSimMs} + CASE WHEN ${simClock.mode} = 'scaled' THEN ${floor} ELSE 0 END)`;
}

/** Moves simulated time forward: shifting the anchor is right in either mode. */
export function advanceClock(db: Db, env: Env, byMs: number): Promise<ClockState> {
  return change(db, env, { anchorSimMs: sql`${simClock.anchorSimMs} + ${byMs}` });
}

/**
 * Changes mode or scale, re-anchoring so that time is
 * continuous: the anchor becomes the simulated time now, read from the row being changed.
 */
export function configureClock(
  db: Db,
  env: Env,
  next: { mode?: ClockMode; scale?: number },
): Promise<ClockState> {
  const wallMs = Date.now();
  return change(db, env, {
    anchorSimMs: simNowSql(wallMs),
    anchorWallMs: wallMs,
    ...(next.mode === undefined ? {} : { mode: next.mode }),
    ...(next.scale === undefined ? {} : { scale: next.scale }),
  });
}

export function clockView(clock: ClockState) {
  const now = simNow(clock, Date.now());
  return { mode: clock.mode, scale: clock.scale, now: new Date(now).toISOString(), nowMs: now };
}
