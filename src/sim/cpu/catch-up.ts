// How a host's CPU model catches up a gap at a bounded cost: which intervals it steps one by one and which
// it draws as stretches (one second standing for many; see HostCpu.step).

/** The last minute is stepped second by second, so windows of up to a minute stay exact. */
export const CATCH_UP_FINE_TAIL = 60;
/** Stretches over the rest of the last hour, which the minute ring shows minute by minute. */
export const CATCH_UP_RECENT_STRETCHES = 20;
const RECENT_SPAN = 3600 - CATCH_UP_FINE_TAIL;
/** Stretches over anything older, which only the totals keep. */
export const CATCH_UP_OLDER_STRETCHES = 10;
/** The most steps a catch-up computes: a single interval for a pending one-off, the stretches, the tail. */
export const CATCH_UP_MAX_STEPS =
  1 + CATCH_UP_OLDER_STRETCHES + CATCH_UP_RECENT_STRETCHES + CATCH_UP_FINE_TAIL;

/**
 * The steps that cover `intervals`, oldest first, as the number of intervals each stands for (1 for a single
 * interval). Gaps of up to CATCH_UP_MAX_STEPS are all single intervals. Longer ones start with a single
 * interval when a one-off change is pending (a stretch repeats its second, so it must not hold one).
 */
export function catchUpPlan(intervals: number, oneOffPending: boolean): number[] {
  if (intervals <= CATCH_UP_MAX_STEPS) return new Array<number>(Math.max(0, intervals)).fill(1);
  const plan: number[] = oneOffPending ? [1] : [];
  const older = intervals - plan.length - CATCH_UP_FINE_TAIL;
  const recent = Math.min(older, RECENT_SPAN);
  const stretches = (span: number, most: number) => {
    const count = Math.min(most, span);
    // Lengths differ by at most one interval and add up to `span`.
    for (let j = 0; j < count; j++) {
      plan.push(Math.floor((span * (j + 1)) / count) - Math.floor((span * j) / count));
    }
  };
  stretches(older - recent, CATCH_UP_OLDER_STRETCHES);
  stretches(recent, CATCH_UP_RECENT_STRETCHES);
  for (let i = 0; i < CATCH_UP_FINE_TAIL; i++) plan.push(1);
  return plan;
}
