// Metrics: statistics with known answers (periods that straddle rollup boundaries, the
// rollups once the samples are gone), a redelivered batch that changes nothing, tenants that
// see only their own, and the samples host objects take of their models.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { database } from "../../src/db/client";
import { consumeMetrics } from "../../src/events/metrics-consumer";
import { pruneMetrics } from "../../src/fleet/metrics-store";
import type { MetricsMessage } from "../../src/host/metrics-catalog";
import {
  ADMIN_KEY,
  addHosts,
  advance,
  bearer,
  call,
  freshZone,
  launch,
  newTenant,
  type Problem,
  type Tenant,
} from "./helpers";

const MIN = 60_000;

async function simNow(): Promise<number> {
  return (await call<{ nowMs: number }>("GET", "/v1/clock")).body.nowMs;
}

const hex17 = () =>
  [...crypto.getRandomValues(new Uint8Array(9))]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("")
    .slice(0, 17);

function message(t: Tenant, instanceId: string, time: number, value: number): MetricsMessage {
  return {
    hostId: "h-00000000000000001",
    time,
    windowMs: MIN,
    accountId: t.accountId,
    dimensions: {
      InstanceId: instanceId,
      InstanceType: "m5.large",
      AvailabilityZone: "us-east-1a",
      HostId: "h-00000000000000001",
    },
    values: [
      { metric: "CPUUtilization", value },
      { metric: "VMExits", value: 10 * value },
      { metric: "VMExits", value: 4 * value, dimensions: { ExitReason: "hlt" } },
    ],
  };
}

async function consume(bodies: unknown[]) {
  const batch = createMessageBatch<unknown>(
    "hyperfleet-metrics",
    bodies.map((body, i) => ({ id: `m${i}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await consumeMetrics(batch, env);
  return getQueueResult(batch, ctx);
}

/** The percentile by its definition: linear interpolation between closest ranks. */
function expectedPercentile(values: number[], p: number): number {
  const v = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (v.length - 1);
  const lo = Math.floor(rank);
  return v[lo] + (v[Math.min(lo + 1, v.length - 1)] - v[lo]) * (rank - lo);
}

interface Stats {
  source: string;
  datapoints: {
    timestamp: string;
    sampleCount?: number;
    average?: number;
    sum?: number;
    minimum?: number;
    maximum?: number;
    extendedStatistics?: { statistic: string; value: number }[];
  }[];
}

const iso = (ms: number) => new Date(ms).toISOString();

function statsPath(q: Record<string, string | number>) {
  return `/v1/metrics/statistics?${new URLSearchParams(Object.entries(q).map(([k, v]) => [k, String(v)]))}`;
}

describe("metric statistics", () => {
  // One tenant's instance: a sample 10 s into each of 15 minutes, values with no pattern.
  const values = Array.from({ length: 15 }, (_, k) => ((k * 7) % 11) + k / 2);

  it("answer known Average, Sum, Minimum, Maximum, SampleCount and percentiles, periods straddling the 5-minute rollups included", async () => {
    const t = await newTenant("stats");
    const id = `i-${hex17()}`;
    const t0 = Math.floor((await simNow()) / (5 * MIN)) * 5 * MIN - 60 * MIN;
    const times = values.map((_, k) => t0 + k * MIN + 10_000);
    const result = await consume(values.map((v, k) => message(t, id, times[k], v)));
    expect(result.explicitAcks).toHaveLength(15);

    // Starting 3 minutes in: each 5-minute period straddles a boundary of the 5-minute rollups.
    for (const startMin of [0, 3]) {
      const res = await call<Stats>(
        "GET",
        statsPath({
          metricName: "CPUUtilization",
          instanceId: id,
          startTime: iso(t0 + startMin * MIN),
          endTime: iso(t0 + 15 * MIN),
          period: 300,
          statistics: "Average,Sum,Minimum,Maximum,SampleCount",
          extendedStatistics: "p50,p90,p99.9",
        }),
        undefined,
        bearer(t.apiKey),
      );
      expect(res.status).toBe(200);
      expect(res.body.source).toBe("samples");
      const expected = [];
      for (let from = startMin; from < 15; from += 5) {
        const part = values.slice(from, Math.min(from + 5, 15));
        const sum = part.reduce((a, b) => a + b, 0);
        expected.push({
          timestamp: iso(t0 + from * MIN),
          sampleCount: part.length,
          sum: expect.closeTo(sum, 9),
          average: expect.closeTo(sum / part.length, 9),
          minimum: Math.min(...part),
          maximum: Math.max(...part),
          extendedStatistics: [50, 90, 99.9].map((p) => ({
            statistic: `p${p}`,
            value: expect.closeTo(expectedPercentile(part, p), 9),
          })),
        });
      }
      expect(res.body.datapoints).toEqual(expected);
    }

    // The 5-minute rollups hold each bucket's count, sum, minimum and maximum.
    const rollups = await env.DB.prepare(
      "SELECT bucket, count, sum, min, max FROM metric_rollups WHERE period = ? AND metric = 'CPUUtilization' AND json_extract(dims, '$.InstanceId') = ? ORDER BY bucket",
    )
      .bind(5 * MIN, id)
      .all<{ bucket: number; count: number; sum: number; min: number; max: number }>();
    expect(rollups.results.map((r) => [r.bucket - t0, r.count, r.min, r.max])).toEqual(
      [0, 5, 10].map((m) => [
        m * MIN,
        5,
        Math.min(...values.slice(m, m + 5)),
        Math.max(...values.slice(m, m + 5)),
      ]),
    );

    // A counter split by reason: the total is not counted with its parts.
    const exits = await call<Stats>(
      "GET",
      statsPath({
        metricName: "VMExits",
        instanceId: id,
        startTime: iso(t0),
        endTime: iso(t0 + 15 * MIN),
        period: 900,
        statistics: "Sum",
      }),
      undefined,
      bearer(t.apiKey),
    );
    const total = values.reduce((a, b) => a + b, 0);
    expect(exits.body.datapoints[0].sum).toBeCloseTo(10 * total, 6);
    const hlt = await call<Stats>(
      "GET",
      statsPath({
        metricName: "VMExits",
        instanceId: id,
        exitReason: "hlt",
        startTime: iso(t0),
        endTime: iso(t0 + 15 * MIN),
        period: 900,
        statistics: "Sum",
      }),
      undefined,
      bearer(t.apiKey),
    );
    expect(hlt.body.datapoints[0].sum).toBeCloseTo(4 * total, 6);

    // Another account sees nothing of it, nor does it list it.
    const other = await newTenant("other");
    const theirs = await call<Stats>(
      "GET",
      statsPath({
        metricName: "CPUUtilization",
        instanceId: id,
        startTime: iso(t0),
        endTime: iso(t0 + 15 * MIN),
        period: 300,
        statistics: "Sum",
      }),
      undefined,
      bearer(other.apiKey),
    );
    expect(theirs.body.datapoints).toEqual([]);
    const listed = await call<{
      metrics: { metricName: string; dimensions: { name: string; value: string }[] }[];
    }>("GET", `/v1/metrics?instanceId=${id}`, undefined, bearer(t.apiKey));
    expect(listed.body.metrics.map((m) => m.metricName).sort()).toEqual([
      "CPUUtilization",
      "VMExits",
      "VMExits",
    ]);
    expect(listed.body.metrics[0].dimensions).toContainEqual({ name: "InstanceId", value: id });
    const notListed = await call<{ metrics: unknown[] }>(
      "GET",
      `/v1/metrics?instanceId=${id}`,
      undefined,
      bearer(other.apiKey),
    );
    expect(notListed.body.metrics).toEqual([]);

    // The same batch again changes nothing.
    await consume(values.map((v, k) => message(t, id, times[k], v)));
    const count = await env.DB.prepare(
      "SELECT count(*) AS n FROM metric_samples WHERE json_extract(dims, '$.InstanceId') = ?",
    )
      .bind(id)
      .first<{ n: number }>();
    expect(count?.n).toBe(15 * 3);
    const again = await env.DB.prepare(
      "SELECT sum(count) AS n FROM metric_rollups WHERE period = ? AND metric = 'CPUUtilization' AND json_extract(dims, '$.InstanceId') = ?",
    )
      .bind(MIN, id)
      .first<{ n: number }>();
    expect(again?.n).toBe(15);
  });

  it("refuse bad requests with a 4xx naming the field", async () => {
    const t = await newTenant("bad");
    const now = await simNow();
    const base = {
      metricName: "CPUUtilization",
      startTime: iso(now - 10 * MIN),
      endTime: iso(now),
      period: 60,
      statistics: "Average",
    };
    const cases: [Record<string, string | number>, RegExp][] = [
      [{ ...base, period: 90 }, /^period: must be a multiple of 60/],
      [{ ...base, statistics: "Mean" }, /statistics/],
      [{ ...base, extendedStatistics: "p101" }, /^extendedStatistics\[0\]/],
      [{ ...base, endTime: iso(now - 20 * MIN) }, /^endTime: must be after startTime/],
      [{ ...base, startTime: iso(now - 30 * 86_400_000) }, /^period: the range holds \d+ periods/],
      [{ ...base, metricName: "Nope" }, /metricName/],
      [{ ...base, statistics: "" }, /statistic/],
    ];
    for (const [q, detail] of cases) {
      const res = await call<Problem>("GET", statsPath(q), undefined, bearer(t.apiKey));
      expect(res.status, JSON.stringify(q)).toBe(400);
      expect(res.body.detail, JSON.stringify(q)).toMatch(detail);
    }
  });
});

describe("a host object", () => {
  it("samples its instances every simulated minute from its models, leaving out what no model there measures", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "m5", 1);
    const t = await newTenant("sampled");
    const inst = (
      await launch(
        { instanceType: "m5.large", availabilityZone: zone, workload: "cpu_intensive" },
        bearer(t.apiKey),
      )
    ).body.instances[0];
    await advance(30);
    // Each call to the host samples when a period has ended since the last sample.
    for (let i = 0; i < 3; i++) {
      await advance(60);
      expect((await call("GET", `/v1/hosts/${host.hostId}`, undefined, bearer(ADMIN_KEY))).status).toBe(200);
    }
    const rows = await until(async () => {
      const r = await env.DB.prepare(
        "SELECT metric, dims, value, time FROM metric_samples WHERE json_extract(dims, '$.InstanceId') = ? OR json_extract(dims, '$.HostId') = ?",
      )
        .bind(inst.instanceId, host.hostId)
        .all<{ metric: string; dims: string; value: number; time: number }>();
      return r.results.filter((x) => x.metric === "CPUUtilization").length >= 2 ? r.results : null;
    });
    const byMetric = new Map<string, number[]>();
    for (const r of rows)
      if (!JSON.parse(r.dims).ExitReason)
        byMetric.set(r.metric, [...(byMetric.get(r.metric) ?? []), r.value]);
    // A CPU-bound guest: most of its vCPUs' cycles.
    for (const v of byMetric.get("CPUUtilization") ?? []) expect(v).toBeGreaterThan(50);
    expect(byMetric.has("HostCPUUtilization")).toBe(true);
    expect(byMetric.get("FreeVcpus")?.[0]).toBe(host.capacity.vcpus.total - 2);
    // Nitro: no Xen hypercalls, no dom0; its offload cards' share instead.
    expect(byMetric.has("Hypercalls")).toBe(false);
    expect(byMetric.has("Dom0CPUPercent")).toBe(false);
    expect(byMetric.has("CardOffloadPercent")).toBe(true);
    // The workload drives the memory model: its TLB lookups give a hit rate, its touches bytes.
    for (const v of byMetric.get("TLBHitRate") ?? [-1]) expect(v).toBeGreaterThanOrEqual(0);
    for (const v of byMetric.get("TLBHitRate") ?? []) expect(v).toBeLessThanOrEqual(100);
    expect(Math.max(...(byMetric.get("MemoryTouchedBytes") ?? [0]))).toBeGreaterThan(0);
    // An HVM guest on EPT: its EPT violations are counted.
    expect(byMetric.has("EPTViolations")).toBe(true);
    // A tenant reads its instance's metrics, and none of the host's own.
    const res = await call<Stats>(
      "GET",
      statsPath({
        metricName: "HostCPUUtilization",
        hostId: host.hostId,
        startTime: iso((await simNow()) - 10 * MIN),
        endTime: iso(await simNow()),
        period: 60,
        statistics: "Average",
      }),
      undefined,
      bearer(t.apiKey),
    );
    expect(res.body.datapoints).toEqual([]);
  });

  it("samples a Xen host's hypercalls and dom0 share, and no EPT violations for a paravirtual guest", async () => {
    const zone = freshZone();
    const [host] = await addHosts(zone, "m3", 1);
    const t = await newTenant("xen");
    const launched = await launch(
      {
        instanceType: "m3.medium",
        availabilityZone: zone,
        workload: "io_intensive",
        virtualizationType: "paravirtual",
      },
      bearer(t.apiKey),
    );
    expect(launched.status).toBe(201);
    await advance(60);
    for (let i = 0; i < 2; i++) {
      await advance(60);
      await call("GET", `/v1/hosts/${host.hostId}`, undefined, bearer(ADMIN_KEY));
    }
    const metrics = await until(async () => {
      const r = await env.DB.prepare(
        "SELECT DISTINCT metric FROM metric_samples WHERE json_extract(dims, '$.HostId') = ?",
      )
        .bind(host.hostId)
        .all<{ metric: string }>();
      const names = r.results.map((x) => x.metric);
      return names.includes("Hypercalls") && names.includes("Dom0CPUPercent") ? names : null;
    });
    expect(metrics).not.toContain("CardOffloadPercent");
    // Direct paging: no EPT, so no EPT violations to report (page faults still are).
    expect(metrics).not.toContain("EPTViolations");
    expect(metrics).toContain("PageFaults");
  });
});

describe("the retention", () => {
  it("keeps rollups after the samples are gone, and answers from them what they can answer exactly", async () => {
    const t = await newTenant("old");
    const id = `i-${hex17()}`;
    const now = await simNow();
    const t0 = Math.floor(now / (5 * MIN)) * 5 * MIN - 30 * MIN;
    const vals = [3, 9, 1, 7, 5, 2, 8, 6, 4, 10];
    await consume(vals.map((v, k) => message(t, id, t0 + k * MIN + 5_000, v)));
    await advance(4 * 3600);
    await pruneMetrics(database(env.DB), await simNow());
    const left = await env.DB.prepare(
      "SELECT count(*) AS n FROM metric_samples WHERE json_extract(dims, '$.InstanceId') = ?",
    )
      .bind(id)
      .first<{ n: number }>();
    expect(left?.n).toBe(0);
    const q = {
      metricName: "CPUUtilization",
      instanceId: id,
      startTime: iso(t0 + 3 * MIN),
      endTime: iso(t0 + 10 * MIN),
      period: 300,
      statistics: "Average,Sum,SampleCount,Minimum,Maximum",
    };
    const res = await call<Stats>("GET", statsPath(q), undefined, bearer(t.apiKey));
    expect(res.status).toBe(200);
    expect(res.body.source).toBe("rollup-60");
    const parts = [vals.slice(3, 8), vals.slice(8, 10)];
    expect(res.body.datapoints).toEqual(
      parts.map((part, i) => {
        const sum = part.reduce((a, b) => a + b, 0);
        return {
          timestamp: iso(t0 + (3 + 5 * i) * MIN),
          sampleCount: part.length,
          sum,
          average: sum / part.length,
          minimum: Math.min(...part),
          maximum: Math.max(...part),
        };
      }),
    );
    const pct = await call<Problem>(
      "GET",
      statsPath({ ...q, extendedStatistics: "p50" }),
      undefined,
      bearer(t.apiKey),
    );
    expect(pct.status).toBe(400);
    expect(pct.body.detail).toMatch(/^extendedStatistics: percentiles need the samples/);
  });
});

/** Waits for the queues (which run on their own in the test runtime) to bring `fn` an answer. */
async function until<T>(fn: () => Promise<T | null>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error("timed out waiting for the queue");
    await new Promise((r) => setTimeout(r, 100));
  }
}
