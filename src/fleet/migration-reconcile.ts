// The migrations' part of the repair path: a migration whose next step was never sent (its send
// failed, or its message went to the dead letter queue) would wait forever; reconcile sends the
// step its row is at again. Steps are idempotent, so sending one that is already queued is harmless.
import { ne } from "drizzle-orm";
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
