// The migrations queue consumer: each message is one step of one migration (fleet/migration-steps.ts).
// A step is idempotent, so a redelivery is harmless; the step's successors are sent before it is acked.
import { z } from "zod";
import { OPERATOR } from "../fleet/accounts";
import { Fleet } from "../fleet/context";
import { MIGRATION_STEPS, runStep } from "../fleet/migration-steps";
import { sendSteps } from "../fleet/migrations";

const stepSchema = z.strictObject({
  migrationId: z.string().min(1).max(64),
  step: z.enum(MIGRATION_STEPS),
  at: z.number().int().nonnegative().optional(),
});

export async function consumeMigrations(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  for (const msg of batch.messages) {
    const parsed = stepSchema.safeParse(msg.body);
    if (!parsed.success) {
      console.error("malformed migration step sent to the DLQ", msg.id);
      try {
        await env.MIGRATIONS_DLQ.send(msg.body, { contentType: "json" });
        msg.ack();
      } catch {
        msg.retry({ delaySeconds: 60 });
      }
      continue;
    }
    try {
      // The fleet acts on its own behalf: a step reads and changes whatever its migration needs.
      const fleet = new Fleet(env, OPERATOR);
      await sendSteps(fleet, await runStep(fleet, parsed.data));
      msg.ack();
    } catch (err) {
      console.warn("a migration step failed; retrying", parsed.data, err);
      msg.retry({ delaySeconds: Math.min(300, 2 ** msg.attempts) });
    }
  }
}
