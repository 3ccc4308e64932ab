// The cron trigger: the repair path runs on its own, so a D1 write lost to a failure
// between a host object's change and its mirror converges without anyone asking.
import { OPERATOR } from "./accounts";
import { Fleet } from "./context";
import { reconcile } from "./reconcile";
import { actOnDueEvents } from "./scheduled-events";

export async function scheduled(_controller: ScheduledController, env: Env): Promise<void> {
  // Scheduled events that fell due (EC2's retirements, reboots, stops) are acted on first.
  await actOnDueEvents(new Fleet(env, OPERATOR));
  const report = await reconcile(new Fleet(env, OPERATOR), true);
  if (!report.agree)
    console.warn(`reconcile repaired ${report.repaired} rows`, report.mismatches.slice(0, 10));
}
