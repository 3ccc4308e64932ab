// Fleet scale benchmark: through the HTTP API of `wrangler dev`, the CloudSim Plus scenario
// of its docs/performance.md ("VmAllocationPolicy" table: 1 datacenter, 20,000 hosts,
// 40,000 VMs, FirstFit placed in 1.3 min by CloudSim Plus 4.3.4 on a dual-core 2.8 GHz
// i7-4558U). Shapes from the CloudSim Plus examples that run that scale
// (UtilizationModelStochasticPerformance, UtilizationModelFullPerformance): HOST_PES = 16,
// VM_PES = 4. Here a host is an m5 Nitro host cut to 1 socket x 8 cores x 2 threads (16
// hardware threads, the hypervisor keeping none) with memory for four 16 GiB guests plus the
// Nitro reserve, and a VM is an m5.xlarge (4 vCPUs, 16 GiB); binpack, which fills the fullest
// host that fits first, stands for FirstFit. Prints the wall time of each phase and of the
// whole, placement decisions per second, the resident memory of workerd, whether any host
// is over capacity afterwards, and whether reconcile finds D1 and the host objects agreeing.
//
// SCALE_HOSTS, SCALE_VMS and BENCH_CONNECTIONS (launches in flight) change the scenario's size.
import { loadavg } from "node:os";
import { emit } from "./_emit";
import { startDevServer } from "./_wrangler";

const SUITE = "scale";
const HOSTS = Number(process.env.SCALE_HOSTS ?? 20_000);
const VMS = Number(process.env.SCALE_VMS ?? 40_000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);
/**
 * Host requests in flight at once, each of HOSTS_PER_REQUEST hosts. With four (a thousand new
 * objects open at once in the one local isolate) the runtime cut requests off in most runs
 * ("other side closed", no response), and each cut request was made again; with two, none was.
 */
const HOST_REQUESTS = Number(process.env.SCALE_HOST_REQUESTS ?? 2);
/**
 * Fewer than the most a request may carry (src/fleet/limits.ts MAX_HOSTS_PER_REQUEST, 1,000):
 * the runtime keeps every object a request called open until that request ends, and each
 * open object holds its SQLite database in the process's shared SQLite heap
 * (src/host/residency.ts), so short requests keep fewer open at once.
 */
const HOSTS_PER_REQUEST = Number(process.env.SCALE_HOSTS_PER_REQUEST ?? 250);
const LAUNCH_COUNT = 100;
/** Hosts a reconcile request compares (src/fleet/limits.ts MAX_RECONCILE_HOSTS is 1,000). */
const RECONCILE_PAGE = 500;
const ZONE = "us-east-1a";
const HOST_SHAPE = {
  family: "m5",
  sockets: 1,
  coresPerSocket: 8,
  threadsPerCore: 2,
  memoryMiB: 4 * 16_384 + 1_024,
};
const VM_TYPE = "m5.xlarge";
const RELEASE_MS = process.env.HOST_IDLE_RELEASE_MS ?? "100";

interface HostRow {
  hostId: string;
  capacity: {
    vcpus: { total: number; reserved: number; used: number; free: number };
    memoryMiB: { total: number; reserved: number; used: number; free: number };
    vms: number;
  };
}

/** Runs `fn` over `items` with `parallel` in flight; answers the results in order. */
async function pool<I, T>(items: I[], parallel: number, fn: (item: I) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}

async function main() {
  // Every host object runs in the one local isolate, which the runtime restarts past 128 MB; a
  // host with four VMs holds over a megabyte of model, so idle ones let theirs go
  // (src/host/residency.ts) and reload it from storage when next called.
  const server = await startDevServer({ HOST_IDLE_RELEASE_MS: RELEASE_MS });
  // Straight to the runtime where it was found (bench/_wrangler.ts: wrangler's dev proxy turns
  // any cut connection into a 503 "restarted mid-request"). A request cut off (the runtime
  // may restart the Worker; the proxy, if used, says so with that 503) is sent again: a host
  // batch may then make a few hosts twice (the inventory is counted below); a launch carries a
  // client token, so that its retry answers with what the first attempt launched.
  let base = server.direct ?? server.base;
  let restarts = 0;
  const cuts: string[] = [];
  const api = async <T>(method: string, path: string, body?: unknown, key = server.adminKey) => {
    for (let attempt = 0; ; attempt++) {
      let status: number;
      let text: string;
      try {
        const res = await fetch(`${base}${path}`, {
          method,
          headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        status = res.status;
        text = await res.text();
      } catch (err) {
        if (attempt >= 5) throw err;
        restarts++;
        const cause = (err as { cause?: { code?: string } }).cause?.code ?? String(err);
        if (cuts.length < 5) cuts.push(`${method} ${path.split("?")[0]}: ${cause}`);
        await new Promise((r) => setTimeout(r, 1000));
        // Refused: the runtime was restarted, on another port.
        if (cause === "ECONNREFUSED" && server.direct) base = (await server.findDirect()) ?? server.base;
        continue;
      }
      if (status === 503 && text.includes("restarted mid-request") && attempt < 5) {
        restarts++;
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      try {
        return { status, body: JSON.parse(text) as T };
      } catch {
        throw new Error(`${method} ${path}: ${status} ${text.slice(0, 300)}`);
      }
    }
  };
  let peakRss = 0;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, server.workerdRssMiB());
  }, 1000);
  const load = () => loadavg().map((n) => Math.round(n * 100) / 100);
  const figure = (name: string, value: number, unit: string, extra: Record<string, unknown> = {}) =>
    emit({
      suite: SUITE,
      name,
      value,
      unit,
      hosts: HOSTS,
      vms: VMS,
      ...extra,
      host_idle_release_ms: Number(RELEASE_MS),
      loadavg: load(),
    });
  try {
    const runId = Date.now().toString(36);
    const t0 = performance.now();

    // Hosts, in requests of a thousand.
    const batches = Array.from({ length: Math.ceil(HOSTS / HOSTS_PER_REQUEST) }, (_x, i) =>
      Math.min(HOSTS_PER_REQUEST, HOSTS - i * HOSTS_PER_REQUEST),
    );
    const made = await pool(batches, HOST_REQUESTS, async (count) => {
      const res = await api<{ created: number }>("POST", "/v1/hosts/bulk", {
        availabilityZone: ZONE,
        count,
        ...HOST_SHAPE,
      });
      if (res.status !== 201) throw new Error(`bulk host create: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.created;
    });
    const hostsMade = made.reduce((a, b) => a + b, 0);
    const t1 = performance.now();
    figure("hosts_phase", (t1 - t0) / 1000, "s", {
      created: hostsMade,
      requests: batches.length,
      per_request: HOSTS_PER_REQUEST,
    });

    // An account with a key for each connection (each key has its own rate limit).
    const acct = await api<{ account: { accountId: string }; key: { apiKey: string } }>(
      "POST",
      "/v1/accounts",
      { name: "scale" },
    );
    const keys = [acct.body.key.apiKey];
    while (keys.length < CONNECTIONS) {
      keys.push(
        (await api<{ apiKey: string }>("POST", `/v1/accounts/${acct.body.account.accountId}/keys`, {})).body
          .apiKey,
      );
    }

    // The scenario's VMs need addresses: a zone's default subnet is a /20 (4,090 usable, as on
    // EC2), so the bench gives its account a VPC whose one subnet is the largest EC2 allows, a /16
    // (65,531 usable: AWS reserves five of each subnet's addresses).
    const vpc = await api<{ vpcId: string }>("POST", "/v1/vpcs", { cidrBlock: "10.0.0.0/16" }, keys[0]);
    const subnet = await api<{ subnetId: string }>(
      "POST",
      "/v1/subnets",
      { vpcId: vpc.body.vpcId, cidrBlock: "10.0.0.0/16", availabilityZone: ZONE },
      keys[0],
    );
    if (!subnet.body.subnetId)
      throw new Error(`the bench's subnet was refused: ${JSON.stringify(subnet.body)}`);

    // VMs, in launches of the most a launch may carry, CONNECTIONS at a time.
    const t2 = performance.now();
    const launches = Array.from({ length: Math.ceil(VMS / LAUNCH_COUNT) }, (_x, i) => ({
      n: i,
      count: Math.min(LAUNCH_COUNT, VMS - i * LAUNCH_COUNT),
    }));
    const answers = await pool(launches, CONNECTIONS, async ({ n, count }) => {
      const res = await api<{ instances?: unknown[]; code?: string }>(
        "POST",
        "/v1/instances",
        {
          instanceType: VM_TYPE,
          subnetId: subnet.body.subnetId,
          minCount: 1,
          maxCount: count,
          placementStrategy: "binpack",
          clientToken: `scale-${runId}-${n}`,
        },
        keys[n % keys.length],
      );
      return { status: res.status, placed: res.body.instances?.length ?? 0, code: res.body.code };
    });
    const t3 = performance.now();
    const placed = answers.reduce((a, r) => a + r.placed, 0);
    const failed = answers.filter((r) => r.status !== 201);
    figure("placement_phase", (t3 - t2) / 1000, "s", {
      placed,
      launches: launches.length,
      per_launch: LAUNCH_COUNT,
      connections: CONNECTIONS,
      failed_launches: failed.length,
      failures: [...new Set(failed.map((f) => `${f.status} ${f.code ?? ""}`))],
    });
    figure("placement_decisions", placed / ((t3 - t2) / 1000), "VMs/s");
    figure("scenario_total", (t3 - t0) / 1000, "s", { baseline_cloudsim_plus_firstfit_s: 78 });
    figure("workerd_rss_after_placement", server.workerdRssMiB(), "MiB", { peak_MiB: peakRss });

    // No host over capacity: every row of the inventory, a page at a time.
    const t4 = performance.now();
    let over = 0;
    let vmsOnHosts = 0;
    let rows = 0;
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { hosts: HostRow[]; nextCursor: string | null } } = await api(
        "GET",
        `/v1/hosts?limit=1000${cursor ? `&cursor=${cursor}` : ""}`,
      );
      for (const h of page.body.hosts) {
        const c = h.capacity;
        if (
          c.vcpus.used + c.vcpus.reserved > c.vcpus.total ||
          c.memoryMiB.used + c.memoryMiB.reserved > c.memoryMiB.total
        )
          over++;
        if (c.vcpus.free < 0 || c.memoryMiB.free < 0) over++;
        vmsOnHosts += c.vms;
        rows++;
      }
      cursor = page.body.nextCursor;
    } while (cursor);
    figure("hosts_over_capacity", over, "hosts", {
      requests_cut_and_retried: restarts,
      cuts,
      via: server.direct ? "runtime" : "dev proxy",
      hosts_listed: rows,
      vms_on_hosts: vmsOnHosts,
      check_s: (performance.now() - t4) / 1000,
    });

    // D1 against every host object, a page of hosts a request (src/fleet/limits.ts
    // MAX_RECONCILE_HOSTS): one request that called every object would keep them all open.
    const t5 = performance.now();
    const rec = { status: 200, agree: true, mismatches: 0, hosts: 0, instances: 0, pages: 0 };
    let after: string | null = null;
    do {
      const page: {
        status: number;
        body: {
          nextHostId: string | null;
          agree: boolean;
          mismatchCount: number;
          hostsChecked: number;
          instancesChecked: number;
        };
      } = await api("POST", "/v1/admin/reconcile", {
        repair: false,
        hostLimit: RECONCILE_PAGE,
        ...(after ? { afterHostId: after } : {}),
      });
      if (page.status !== 200) rec.status = page.status;
      rec.agree &&= page.status === 200 && page.body.agree;
      rec.mismatches += page.body.mismatchCount ?? 0;
      rec.hosts += page.body.hostsChecked ?? 0;
      rec.instances += page.body.instancesChecked ?? 0;
      rec.pages++;
      after = page.status === 200 ? page.body.nextHostId : null;
    } while (after);
    figure("reconcile", (performance.now() - t5) / 1000, "s", {
      status: rec.status,
      agree: rec.agree,
      mismatches: rec.mismatches,
      hosts_checked: rec.hosts,
      instances_checked: rec.instances,
      pages: rec.pages,
    });
    figure("workerd_rss_peak", Math.max(peakRss, server.workerdRssMiB()), "MiB");
    if (over > 0 || !rec.agree || rec.hosts < HOSTS || placed !== VMS || rows < HOSTS) process.exitCode = 1;
  } finally {
    clearInterval(sampler);
    server.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
