// Shared steps of the integration tests: calling the API through the Worker's own fetch,
// making a private corner of the fleet (a zone of its own), and moving the clock.
import { env, exports } from "cloudflare:workers";
import { recordsOf, vmPages } from "../../src/fleet/host-pages";
import { MAX_TAGS, TAG_KEY_MAX_LENGTH, TAG_VALUE_MAX_LENGTH } from "../../src/fleet/limits";
import type { VmSummary } from "../../src/host/host-object";
import { HostStorage } from "../../src/host/storage";
import { HostModel } from "../../src/sim/host";

export interface Problem {
  status: number;
  code: string;
  detail: string;
  fields?: string[];
  zonesWithCapacity?: string[];
}

export async function call<T = unknown>(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: T; headers: Headers }> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] ??= "application/json";
  }
  const res = await exports.default.fetch(new Request(`http://fleet.test${path}`, init));
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T, headers: res.headers };
}

let zoneCounter = 0;
/** A zone no other test uses, so placement in it sees only this test's hosts. */
export function freshZone(): string {
  zoneCounter++;
  const letters = [...`${Date.now().toString(36)}${zoneCounter.toString(36)}`].map((c) =>
    /[0-9]/.test(c) ? String.fromCharCode(97 + Number(c)) : c,
  );
  return `zz-${letters.join("")}-1a`;
}

export interface HostBody {
  hostId: string;
  availabilityZone: string;
  capacity: {
    vcpus: { total: number; used: number; free: number };
    memoryMiB: { used: number; free: number };
  };
}

export async function addHosts(zone: string, family: string, n: number, extra: Record<string, unknown> = {}) {
  const out: HostBody[] = [];
  for (let i = 0; i < n; i++) {
    const res = await call<HostBody>("POST", "/v1/hosts", { availabilityZone: zone, family, ...extra });
    if (res.status !== 201) throw new Error(`host create failed: ${JSON.stringify(res.body)}`);
    out.push(res.body);
  }
  return out;
}

export interface InstanceBody {
  instanceId: string;
  reservationId: string;
  state: { code: number; name: string };
  hostId: string | null;
  availabilityZone: string;
  cpuPinning: number[];
  tags: Record<string, string>;
}

export async function launch(body: Record<string, unknown>) {
  return call<{ reservationId: string; instances: InstanceBody[] } & Problem>("POST", "/v1/instances", body);
}

export async function advance(seconds: number) {
  const res = await call<{ settledEvents: number }>("POST", "/v1/admin/clock/advance", { seconds });
  if (res.status !== 200) throw new Error(`advance failed: ${JSON.stringify(res.body)}`);
  return res.body;
}

export async function getInstance(id: string) {
  return call<InstanceBody & Problem>("GET", `/v1/instances/${id}`);
}

/**
 * A host object's whole state as a test compares it: the host, its use, its VMs' records
 * and its holds, read a page at a time as the fleet reads them, without settling anything.
 */
export async function hostView(hostId: string) {
  const stub = env.HOST.getByName(hostId);
  const view = await stub.reconcileView();
  if (!view) throw new Error(`no host object ${hostId}`);
  const summaries: VmSummary[] = [];
  for await (const page of vmPages(stub)) summaries.push(...page);
  const committed = summaries.filter((v) => !v.held).map((v) => v.instanceId);
  const { onHost } = await recordsOf(stub, committed);
  return { ...view, vms: onHost, heldIds: summaries.filter((v) => v.held).map((v) => v.instanceId) };
}

/**
 * The most tags a launch may carry, each key and value at its longest: 50 keys of 128
 * characters and values of 256, written with `char` (a three-byte one makes the largest
 * record there is).
 */
export function largestTags(char = "x"): Record<string, string> {
  const tags: Record<string, string> = {};
  for (let i = 0; i < MAX_TAGS; i++) {
    const n = String(i).padStart(2, "0");
    tags[n + char.repeat(TAG_KEY_MAX_LENGTH - 2)] = char.repeat(TAG_VALUE_MAX_LENGTH);
  }
  return tags;
}

/**
 * Inside runInDurableObject: the host's model as stored, loaded by a storage layer of the
 * test's own, as the object loads its own. Its write counters say what each save costs.
 */
export function storedModel(state: DurableObjectState): { store: HostStorage; m: HostModel } {
  const store = new HostStorage(state.storage);
  const stored = store.load().model;
  if (!stored) throw new Error("no host stored");
  const m = new HostModel(
    stored.host,
    stored.vms,
    stored.usageVersion,
    () => crypto.randomUUID(),
    stored.cpu,
    stored.memory,
  );
  return { store, m };
}
