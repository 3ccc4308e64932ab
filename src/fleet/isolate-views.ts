// What an isolate keeps of D1 between requests (placement candidates, an account's network,
// a subnet's taken addresses): views keyed by name, one set per D1 binding, so that a test's
// or another environment's database never sees another's.
export function isolateViews<V>() {
  const byBinding = new WeakMap<D1Database, Map<string, V>>();
  return {
    /** The binding's views, made empty on first use. */
    of(d1: D1Database): Map<string, V> {
      let v = byBinding.get(d1);
      if (!v) {
        v = new Map();
        byBinding.set(d1, v);
      }
      return v;
    },
    /** Forgets every view of the binding. */
    drop(d1: D1Database): void {
      byBinding.delete(d1);
    },
  };
}
