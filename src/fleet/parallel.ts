// Many host-object calls at once, a bounded number in flight, every outcome accounted for.

/**
 * Host-object calls of one request in flight at once: a launch spread one instance to a
 * host is as many calls as instances, and reconcile one (or a few) per host of the fleet.
 * Enough to keep both cores busy while calls wait on storage; few enough that one request
 * does not hold every host object of the fleet in memory at once.
 */
export const HOST_CALLS_PARALLEL = 32;

export type Settled<T> = { ok: true; value: T } | { ok: false; err: unknown };

/**
 * Calls `fn` on every item, at most `parallel` at a time, and answers each outcome in the
 * items' order; a failure is an outcome, not a throw, so every call is accounted for.
 */
export async function inParallel<I, T>(
  items: readonly I[],
  fn: (item: I) => Promise<T>,
  parallel = HOST_CALLS_PARALLEL,
): Promise<Settled<T>[]> {
  const out = new Array<Settled<T>>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = { ok: true, value: await fn(items[i]) };
      } catch (err) {
        out[i] = { ok: false, err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, worker));
  return out;
}
