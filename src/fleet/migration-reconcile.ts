// The migrations' part of the repair path: a migration whose next step was never sent (its send
// failed, or its message went to the dead letter queue) would wait forever; reconcile sends the
// step its row is at again. Steps are idempotent, so sending one that is already queued is harmless.
// A step that waits for simulated time (the switch, post-copy's last page) is sent when an advance of
// the clock reaches it, too.
import { and, eq, isNotNull, lte, ne, or } from "drizzle-orm";
import { migrations } from "../db/schema";
import type { Fleet } from "./context";
import type { StepMessage } from "./migration-steps";
import { sendSteps } from "./migrations";

export async function resumeMigrations(
  fleet: Fleet,
  repair: boolean,
): Promise<{ open: number; resumed: number }> {
  const open = await fleet.db
    .select({ id: migrations.id, step: migrations.step })
    .from(migrations)
    .where(ne(migrations.step, "done"));
  if (!repair || open.length === 0) return { open: open.length, resumed: 0 };
  const steps = open.map((r) => ({ migrationId: r.id, step: r.step as StepMessage["step"] }));
  for (let at = 0; at < steps.length; at += 100) await sendSteps(fleet, steps.slice(at, at + 100));
  return { open: open.length, resumed: steps.length };
}

/** Sends the steps that the clock has just reached: a manual clock's advance is their only trigger. */
export async function resumeDueMigrations(fleet: Fleet): Promise<number> {
  const now = await fleet.now();
  const due = await fleet.db
    .select({ id: migrations.id, step: migrations.step })
    .from(migrations)
    .where(
      or(
        and(eq(migrations.step, "switch"), isNotNull(migrations.switchAt), lte(migrations.switchAt, now)),
        and(
          eq(migrations.step, "release"),
          isNotNull(migrations.lastPageAt),
          lte(migrations.lastPageAt, now),
        ),
      ),
    );
  const steps = due.map((r) => ({ migrationId: r.id, step: r.step as StepMessage["step"] }));
  for (let at = 0; at < steps.length; at += 100) await sendSteps(fleet, steps.slice(at, at + 100));
  return steps.length;
}
