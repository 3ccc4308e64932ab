// The cron trigger: the repair path runs on its own, so a D1 write lost to a failure
// between a host object's change and its mirror converges without anyone asking.
import { OPERATOR } from "./accounts";
import { Fleet } from "./context";
import { reconcile } from "./reconcile";

export async function scheduled(_controller: ScheduledController, env: Env): Promise<void> {
  const report = await reconcile(new Fleet(env, OPERATOR), true);
  if (!report.agree)
    console.warn(`reconcile repaired ${report.repaired} rows`, report.mismatches.slice(0, 10));
}
