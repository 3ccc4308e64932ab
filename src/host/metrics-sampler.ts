// A host's metrics, sampled every simulated period from its models' own summaries (the CPU
// model's counters over the window, the memory model's counts, the host's capacity), and
// sent on the metrics queue through an outbox of their own: written in the transaction of
// the call that took them, delivered after it, retried by the alarm. A metric whose model
// does not apply (hypercalls off Xen, EPT violations off EPT paging) is left out.
import type { HostCpuSummary, VmCpuCounters } from "../sim/cpu";
import type { HostModel } from "../sim/host";
import type { VmMemorySummary } from "../sim/memory";
import type { MetricsMessage, MetricValue } from "./metrics-catalog";
import { takeBatch } from "./outbox";
import type { Sql } from "./sql";

/** The CPU model keeps an hour of per-minute history: no window reaches further back. */
const MAX_WINDOW_MS = 3_600_000;

/** The memory model's counters are running totals; a sample is the difference from the last. */
interface MemoryTotals {
  pageFaults: number;
  eptViolations: number;
  tlbHits: number;
  tlbMisses: number;
}

function totalsOf(m: VmMemorySummary): MemoryTotals {
  return {
    pageFaults: m.faults.guestPageFaults,
    eptViolations: m.faults.eptViolations,
    tlbHits: m.tlb.hits,
    tlbMisses: m.tlb.misses,
  };
}

/** What an instance's counters and memory summary say over one window. */
export function instanceValues(
  c: VmCpuCounters,
  mem: VmMemorySummary | null,
  before: MemoryTotals | null,
  xen: boolean,
): MetricValue[] {
  const v: MetricValue[] = [];
  const cap = c.cycles.capacity;
  if (cap > 0) v.push({ metric: "CPUUtilization", value: (100 * c.cycles.guest) / cap });
  v.push({ metric: "CPUStealPercent", value: c.stealPct });
  v.push({ metric: "HypervisorOverheadPercent", value: c.overheadPct });
  v.push({ metric: "VMExits", value: c.totalExits });
  for (const [reason, n] of Object.entries(c.vmExits)) {
    v.push({ metric: "VMExits", value: n, dimensions: { ExitReason: reason } });
  }
  if (xen) {
    let total = 0;
    for (const [name, n] of Object.entries(c.hypercalls)) {
      total += n;
      v.push({ metric: "Hypercalls", value: n, dimensions: { Hypercall: name } });
    }
    v.push({ metric: "Hypercalls", value: total });
  }
  v.push({ metric: "ContextSwitches", value: c.contextSwitches });
  const net = c.io.network;
  v.push({ metric: "NetworkIn", value: net.bytes.in });
  v.push({ metric: "NetworkOut", value: net.bytes.out });
  v.push({ metric: "NetworkPacketsIn", value: net.packets.in });
  v.push({ metric: "NetworkPacketsOut", value: net.packets.out });
  v.push({ metric: "NetworkBwInAllowanceExceeded", value: net.bwInAllowanceExceeded });
  v.push({ metric: "NetworkBwOutAllowanceExceeded", value: net.bwOutAllowanceExceeded });
  v.push({ metric: "NetworkPpsAllowanceExceeded", value: net.ppsAllowanceExceeded });
  const ebs = c.io.ebs;
  v.push({ metric: "EBSIOs", value: c.io.diskIos });
  v.push({ metric: "EBSBytes", value: ebs.bytes });
  v.push({ metric: "EBSIOPSExceeded", value: ebs.instanceIopsExceeded + ebs.volumeIopsExceeded });
  v.push({
    metric: "EBSThroughputExceeded",
    value: ebs.instanceThroughputExceeded + ebs.volumeThroughputExceeded,
  });
  if (mem) {
    v.push({ metric: "MemoryTouchedBytes", value: mem.touchedBytes });
    v.push({ metric: "MemoryBackedBytes", value: mem.backedBytes });
    const now = totalsOf(mem);
    const was = before ?? { pageFaults: 0, eptViolations: 0, tlbHits: 0, tlbMisses: 0 };
    v.push({ metric: "PageFaults", value: now.pageFaults - was.pageFaults });
    if (mem.mode === "ept") v.push({ metric: "EPTViolations", value: now.eptViolations - was.eptViolations });
    const hits = now.tlbHits - was.tlbHits;
    const lookups = hits + now.tlbMisses - was.tlbMisses;
    if (lookups > 0) v.push({ metric: "TLBHitRate", value: (100 * hits) / lookups });
  }
  return v;
}

/** What the host's summary and capacity say over one window. */
export function hostValues(h: HostCpuSummary, free: { vcpus: number; memoryMiB: number }): MetricValue[] {
  const v: MetricValue[] = [
    { metric: "HostCPUUtilization", value: h.utilizationPct },
    { metric: "HostHypervisorOverheadPercent", value: h.hypervisorOverheadPct },
    { metric: "FreeVcpus", value: free.vcpus },
    { metric: "FreeMemoryMiB", value: free.memoryMiB },
  ];
  if (h.kind === "xen" && h.cycles.capacity > 0) {
    v.push({ metric: "Dom0CPUPercent", value: (100 * h.cycles.dom0) / h.cycles.capacity });
  }
  if (h.features.ioOffloadCards) v.push({ metric: "CardOffloadPercent", value: h.offload.hardwareSharePct });
  return v;
}

/** Queues take at most 100 messages and 256 KB in one sendBatch. */
const SEND_MESSAGES = 100;
const SEND_BYTES = 192 * 1024;

export class MetricsSampler {
  private delivering = false;
  /**
   * What metrics_state holds of the schedule, and the rows in metrics_outbox, as last read
   * (undefined: not read since the object was made or its storage rolled back): a call with
   * no sample due reads nothing.
   */
  private schedule = new Map<"nextAt" | "lastAt", number | null>();
  private outboxRows: number | null = null;

  constructor(
    private readonly sql: Sql,
    private readonly queue: Queue,
    readonly periodMs: number,
  ) {}

  private get(key: "nextAt" | "lastAt"): number | null {
    const known = this.schedule.get(key);
    if (known !== undefined) return known;
    const row = this.sql<{ value: string }>`SELECT value FROM metrics_state WHERE key = ${key}`[0];
    const value = row ? Number(row.value) : null;
    this.schedule.set(key, value);
    return value;
  }

  private set(key: string, value: number | string): void {
    this.sql`INSERT OR REPLACE INTO metrics_state (key, value) VALUES (${key}, ${String(value)})`;
    if (key === "nextAt" || key === "lastAt") this.schedule.set(key, Number(value));
  }

  /** After the storage was rolled back: what it holds is read again. */
  forget(): void {
    this.schedule.clear();
    this.outboxRows = null;
  }

  /** When the next sample is due (simulated ms), or null while no VM runs here. */
  nextAt(m: HostModel): number | null {
    if (!running(m).length) return null;
    return this.get("nextAt");
  }

  /**
   * Samples if a period has ended since the last sample; call inside the transaction that
   * stores the call's change, with the model settled at `now`. Answers how many messages it wrote.
   */
  sampleIfDue(m: HostModel, now: number): number {
    const vms = running(m);
    const nextAt = this.get("nextAt");
    if (vms.length === 0) {
      // Nothing runs: nothing to sample; the next VM to run starts the periods afresh.
      if (nextAt !== null) {
        this.sql`DELETE FROM metrics_state WHERE key = 'nextAt'`;
        this.schedule.set("nextAt", null);
      }
      return 0;
    }
    const period = this.periodMs;
    if (nextAt === null) {
      this.set("nextAt", Math.floor(now / period) * period + period);
      this.set("lastAt", now);
      return 0;
    }
    if (now < nextAt) return 0;
    const lastAt = this.get("lastAt") ?? now - period;
    const windowMs = Math.max(1000, Math.min(MAX_WINDOW_MS, now - lastAt));
    const host = m.host;
    const xen = host.hypervisor === "xen";
    const messages: MetricsMessage[] = [];
    for (const vm of vms) {
      const i = vm.instance;
      const c = m.cpuCounters(i.instanceId, now, windowMs);
      if (!c) continue;
      const mem = m.memorySummary(i.instanceId, now);
      const key = `vm:${i.instanceId}`;
      const stored = this.sql<{ value: string }>`SELECT value FROM metrics_state WHERE key = ${key}`[0];
      const before = stored ? (JSON.parse(stored.value) as MemoryTotals) : null;
      messages.push({
        hostId: host.hostId,
        time: now,
        windowMs: c.windowMs,
        accountId: i.accountId ?? null,
        dimensions: {
          InstanceId: i.instanceId,
          InstanceType: i.instanceType,
          AvailabilityZone: i.zone,
          HostId: host.hostId,
        },
        values: instanceValues(c, mem, before, xen),
      });
      if (mem) this.set(key, JSON.stringify(totalsOf(mem)));
    }
    const h = m.cpuSummary(now, windowMs);
    const cap = m.usage().capacity;
    messages.push({
      hostId: host.hostId,
      time: now,
      windowMs: h.windowMs,
      accountId: null,
      dimensions: { HostId: host.hostId, AvailabilityZone: host.zone },
      values: hostValues(h, { vcpus: cap.vcpus.free, memoryMiB: cap.memoryMiB.free }),
    });
    // The totals of VMs that left are of no further use.
    const here = new Set(vms.map((v) => `vm:${v.instance.instanceId}`));
    for (const { key } of this.sql<{ key: string }>`SELECT key FROM metrics_state WHERE key LIKE 'vm:%'`) {
      if (!here.has(key)) this.sql`DELETE FROM metrics_state WHERE key = ${key}`;
    }
    for (const msg of messages) this.sql`INSERT INTO metrics_outbox (body) VALUES (${JSON.stringify(msg)})`;
    this.outboxRows = null;
    this.set("lastAt", now);
    this.set("nextAt", Math.floor(now / period) * period + period);
    return messages.length;
  }

  pending(): number {
    this.outboxRows = this.sql<{ n: number }>`SELECT count(*) AS n FROM metrics_outbox`[0].n;
    return this.outboxRows;
  }

  /** Whether samples wait: counted again only after this sampler added or sent some. */
  hasPending(): boolean {
    return (this.outboxRows ?? this.pending()) > 0;
  }

  /** Whether a delivery is under way now. */
  get busy(): boolean {
    return this.delivering;
  }

  /** Sends what is pending, oldest first; what fails stays for the alarm to retry. */
  async deliver(): Promise<void> {
    if (this.delivering) return;
    this.delivering = true;
    try {
      while (this.hasPending()) {
        const rows = this.sql<{
          seq: number;
          body: string;
        }>`SELECT seq, body FROM metrics_outbox ORDER BY seq LIMIT ${SEND_MESSAGES}`;
        if (rows.length === 0) {
          this.outboxRows = 0;
          return;
        }
        const batch = takeBatch(rows, SEND_BYTES);
        await this.queue.sendBatch(
          batch.map((r) => ({ body: JSON.parse(r.body), contentType: "json" as const })),
        );
        this.sql`DELETE FROM metrics_outbox WHERE seq <= ${batch[batch.length - 1].seq}`;
        this.outboxRows = null;
      }
    } catch (err) {
      console.warn("host metrics delivery failed; the alarm will retry", err);
    } finally {
      this.delivering = false;
    }
  }
}

function running(m: HostModel) {
  return m.list().filter((v) => v.holdExpiresWallMs === null && v.instance.state === "running");
}

/** METRICS_PERIOD_SECONDS of simulated time (60 s, CloudWatch's basic monitoring, by default). */
export function samplingPeriodMs(env: Env): number {
  const s = Number(env.METRICS_PERIOD_SECONDS);
  return Number.isFinite(s) && s >= 1 ? Math.round(s * 1000) : 60_000;
}
