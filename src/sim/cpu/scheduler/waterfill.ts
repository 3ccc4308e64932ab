// Sharing contended threads over one interval, analytically: runnable demand is shared max-min fairly by
// weight (what Xen's credit scheduler and CFS converge to over many slices); what was not granted is steal.

/**
 * Water-filling: entity i has `mult[i]` identical vCPUs, each wanting `demand[i]` thread-seconds with
 * weight `weight[i]`. Fills `out[i]` with what each of those vCPUs gets from `capacity` thread-seconds.
 * Returns true when demand exceeded capacity (the queue was contended).
 */
export function waterfill(
  n: number,
  demand: Float64Array,
  weight: Float64Array,
  mult: Float64Array,
  capacity: number,
  out: Float64Array,
): boolean {
  let total = 0;
  for (let i = 0; i < n; i++) total += demand[i] * mult[i];
  if (total <= capacity) {
    for (let i = 0; i < n; i++) out[i] = demand[i];
    return false;
  }
  // Satisfy entities in order of demand per weight; the rest share what is left at a common level.
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => demand[a] / weight[a] - demand[b] / weight[b],
  );
  let left = Math.max(0, capacity);
  let weightLeft = 0;
  for (let i = 0; i < n; i++) weightLeft += weight[i] * mult[i];
  for (let k = 0; k < n; k++) {
    const i = order[k];
    const level = weightLeft > 0 ? left / weightLeft : 0;
    if (demand[i] <= level * weight[i]) {
      out[i] = demand[i];
      left -= demand[i] * mult[i];
      weightLeft -= weight[i] * mult[i];
    } else {
      for (let r = k; r < n; r++) {
        const j = order[r];
        out[j] = level * weight[j];
      }
      break;
    }
  }
  return true;
}
