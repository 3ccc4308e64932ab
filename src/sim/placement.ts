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
  const ws = weighers(strategy);
  const weight = new Map<string, number>();
  for (const w of ws) {
    const raw = survivors.map(w.score);
    const lo = Math.min(...raw);
    const hi = Math.max(...raw);
    survivors.forEach((h, i) => {
      const normalized = hi === lo ? 0 : (raw[i] - lo) / (hi - lo);
      weight.set(h.id, (weight.get(h.id) ?? 0) + w.multiplier * normalized);
    });
  }
  return survivors.sort((a, b) => weight.get(b.id)! - weight.get(a.id)! || (a.id < b.id ? -1 : 1));
}
