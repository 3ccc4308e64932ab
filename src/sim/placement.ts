// Placement as OpenStack Nova's filter scheduler does it: filters drop hosts that cannot
// take the request, then each weigher's score is normalized to [0, 1] over the survivors
// and multiplied by its multiplier; a negative multiplier packs instead of spreading.

export type PlacementStrategy = "binpack" | "spread";

export interface HostCandidate {
  id: string;
  zone: string;
  family: string;
  state: string;
  freeVcpus: number;
  freeMemoryMiB: number;
  freeNvmeGB: number;
}

export interface PlacementRequest {
  family: string;
  zone?: string;
  vcpus: number;
  memoryMiB: number;
  nvmeGB: number;
}

type Filter = (h: HostCandidate, r: PlacementRequest) => boolean;

export const FILTERS: Readonly<Record<string, Filter>> = {
  family: (h, r) => h.family === r.family,
  zone: (h, r) => r.zone === undefined || h.zone === r.zone,
  hostState: (h) => h.state === "available",
  capacity: (h, r) => h.freeVcpus >= r.vcpus && h.freeMemoryMiB >= r.memoryMiB && h.freeNvmeGB >= r.nvmeGB,
};

interface Weigher {
  score: (h: HostCandidate) => number;
  multiplier: number;
}

function weighers(strategy: PlacementStrategy): Weigher[] {
  const sign = strategy === "spread" ? 1 : -1;
  return [
    { score: (h) => h.freeMemoryMiB, multiplier: sign },
    { score: (h) => h.freeVcpus, multiplier: sign },
  ];
}

export function filterHosts(hosts: readonly HostCandidate[], req: PlacementRequest): HostCandidate[] {
  const filters = Object.values(FILTERS);
  return hosts.filter((h) => filters.every((f) => f(h, req)));
}

/** Candidates in the order to try them, best first; ties go to the smaller id, for determinism. */
export function rankHosts(
  hosts: readonly HostCandidate[],
  req: PlacementRequest,
  strategy: PlacementStrategy,
): HostCandidate[] {
  const survivors = filterHosts(hosts, req);
  const n = survivors.length;
  // Weights by position rather than in a map keyed by id, and the survivors' positions sorted
  // rather than the hosts: the same order, a few times faster at 20,000 hosts a launch.
  const weight = new Float64Array(n);
  const raw = new Float64Array(n);
  for (const w of weighers(strategy)) {
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < n; i++) {
      const v = w.score(survivors[i]);
      raw[i] = v;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    for (let i = 0; i < n; i++) {
      const normalized = hi === lo ? 0 : (raw[i] - lo) / (hi - lo);
      weight[i] += w.multiplier * normalized;
    }
  }
  const order = Array.from({ length: n }, (_x, i) => i);
  order.sort((a, b) => weight[b] - weight[a] || (survivors[a].id < survivors[b].id ? -1 : 1));
  return order.map((i) => survivors[i]);
}

/** How many instances of the request a host's free capacity holds, by the numbers alone. */
export function fitsOn(h: HostCandidate, req: PlacementRequest): number {
  const byNvme = req.nvmeGB > 0 ? Math.floor(h.freeNvmeGB / req.nvmeGB) : Number.POSITIVE_INFINITY;
  return Math.max(
    0,
    Math.min(Math.floor(h.freeVcpus / req.vcpus), Math.floor(h.freeMemoryMiB / req.memoryMiB), byNvme),
  );
}

/**
 * How many of `count` instances to offer each of the ranked hosts in one round of offers,
 * made at once: binpack fills each host in rank order up to what its free capacity holds;
 * spread shares the count evenly over the hosts left (as Nova spreads), each up to what it
 * holds, then tops up in rank order whatever the shares left over. The numbers are a plan,
 * not a promise: the host object decides, and pinning may fit fewer than the numbers say.
 */
export function planOffers(
  ranked: readonly HostCandidate[],
  count: number,
  req: PlacementRequest,
  strategy: PlacementStrategy,
): { hostId: string; count: number }[] {
  const room = ranked.map((h) => fitsOn(h, req));
  const take = new Array<number>(ranked.length).fill(0);
  let left = count;
  if (strategy === "spread") {
    for (let i = 0; i < ranked.length && left > 0; i++) {
      const share = Math.ceil(left / (ranked.length - i));
      take[i] = Math.min(room[i], share);
      left -= take[i];
    }
  }
  for (let i = 0; i < ranked.length && left > 0; i++) {
    const more = Math.min(room[i] - take[i], left);
    take[i] += more;
    left -= more;
  }
  return ranked.map((h, i) => ({ hostId: h.id, count: take[i] })).filter((o) => o.count > 0);
}
