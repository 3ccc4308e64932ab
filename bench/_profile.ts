// A CPU profile of the Worker's isolate (its fetch handlers, host objects and relays) over the
// DevTools protocol, for `BENCH_PROFILE_SECONDS=N npm run bench -- api`: V8's sampling profiler
// for N seconds of the launch run, then each function's share of the isolate's busy time with
// its callees (inclusive). The inspector it needs costs the runtime work of its own (README,
// Benchmarks), so a profiled run's rates are not the bench's figures; the shares are.

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Starts profiling the first Worker target of the inspector at `port`; `stop` answers the profile. */
export async function startProfile(port: number, intervalUs = 1000): Promise<{ stop(): Promise<Profile> }> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as {
    webSocketDebuggerUrl: string;
  }[];
  if (targets.length === 0) throw new Error(`no inspector target on port ${port}`);
  // wrangler's inspector proxy takes connections from a local origin only. Node's WebSocket
  // (undici) takes headers as a second argument beside the standard ones.
  const ws = new (WebSocket as unknown as new (url: string, init: object) => WebSocket)(
    targets[0].webSocketDebuggerUrl,
    { headers: { Origin: "http://localhost" } },
  );
  let next = 0;
  const waiting = new Map<number, (result: unknown) => void>();
  ws.addEventListener("message", (m: MessageEvent) => {
    const d = JSON.parse(String(m.data)) as { id?: number; result?: unknown };
    if (d.id !== undefined) waiting.get(d.id)?.(d.result);
  });
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve);
    ws.addEventListener("error", reject);
  });
  const send = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve) => {
      const id = ++next;
      waiting.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: intervalUs });
  await send("Profiler.start");
  return {
    async stop() {
      const { profile } = (await send("Profiler.stop")) as { profile: Profile };
      ws.close();
      return profile;
    },
  };
}

/**
 * Each function's inclusive share of the busy (not idle) samples, largest first; a function
 * met twice on one stack counts once.
 */
export function inclusiveShares(p: Profile): { name: string; share: number; busyMs: number }[] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const totals = new Map<string, number>();
  let busy = 0;
  p.samples.forEach((sample, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    if (byId.get(sample)?.callFrame.functionName === "(idle)") return;
    busy += dt;
    const seen = new Set<string>();
    for (let id: number | undefined = sample; id !== undefined; id = parent.get(id)) {
      const name = byId.get(id)?.callFrame.functionName || "(anonymous)";
      if (name === "(root)" || seen.has(name)) continue;
      seen.add(name);
      totals.set(name, (totals.get(name) ?? 0) + dt);
    }
  });
  return [...totals]
    .map(([name, us]) => ({ name, share: busy > 0 ? us / busy : 0, busyMs: busy / 1000 }))
    .sort((a, b) => b.share - a.share);
}
