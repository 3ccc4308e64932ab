// Host inventory: creating hosts (admin), listing them from D1, describing one from its object.
// A tenant sees only the hosts its instances occupy, and on each only its own VMs by name.
import { and, asc, eq, exists, gt, or, type SQL, sql } from "drizzle-orm";
import { dedicatedHosts, hosts, instances } from "../db/schema";
import type { VmSummary } from "../host/host-object";
import type { CapacitySummary } from "../sim/admission";
import { type Family, HOST_SHAPES, hostedShape } from "../sim/catalog";
import {
  type HypervisorKind,
  type Optimizations,
  recommendOptimizations,
  type WorkloadSpec,
} from "../sim/cpu";
import { hostOptimizations } from "../sim/host";
import type { HostRecord, HostState } from "../sim/records";
import { forgetCandidates } from "./candidates";
import type { Fleet } from "./context";
import { ApiError, hostNotFound, invalidParameter } from "./errors";
import { makeHosts } from "./host-creation";
import { vmPages } from "./host-pages";
import { newId } from "./ids";
import { checkHostCount, checkRack, checkZone, RACK_MAX_LENGTH } from "./limits";
import { mirrorApplied } from "./mirror";
import { sees } from "./ownership";
import { pageOf } from "./paging";

export interface CreateHostInput {
  availabilityZone: string;
  family: Family;
  rack?: string;
  sockets?: number;
  coresPerSocket?: number;
  threadsPerCore?: number;
  memoryMiB?: number;
  state?: HostState;
  /** A hosted (Type 2) hypervisor instead of the family's own, for teaching. */
  hypervisor?: "type2";
  optimizations?: Partial<Optimizations>;
  /** Only the demo seed names its hosts, so that seeding twice creates nothing twice. */
  hostId?: string;
}

/** A host given no rack is in its zone's first one, named within the limit however long the zone. */
export function defaultRack(zone: string): string {
  const suffix = "-rack-1";
  return `${zone.slice(0, RACK_MAX_LENGTH - suffix.length)}${suffix}`;
}

export function hostView(h: HostRecord, capacity: CapacitySummary, usageVersion: number) {
  return {
    hostId: h.hostId,
    availabilityZone: h.zone,
    rack: h.rack,
    family: h.family,
    hypervisor: h.hypervisor,
    state: h.state,
    sockets: h.hw.sockets,
    coresPerSocket: h.hw.coresPerSocket,
    threadsPerCore: h.hw.threadsPerCore,
    memoryMiB: h.hw.memoryMiB,
    nvmeGB: h.hw.nvmeGB,
    capacity,
    usageVersion,
    createdAt: new Date(h.createdAt).toISOString(),
  };
}
export type HostView = ReturnType<typeof hostView>;

type HostRow = typeof hosts.$inferSelect;

function fromRow(r: HostRow): HostView {
  const record: HostRecord = {
    hostId: r.id,
    zone: r.zone,
    rack: r.rack,
    family: r.family as Family,
    hypervisor: r.hypervisor as HostRecord["hypervisor"],
    state: r.state as HostState,
    createdAt: r.createdAt,
    hw: {
      sockets: r.sockets,
      coresPerSocket: r.coresPerSocket,
      threadsPerCore: r.threadsPerCore,
      memoryMiB: r.memoryMiB,
      reservedThreads: r.reservedThreads,
      reservedMemoryMiB: r.reservedMemoryMiB,
      nvmeGB: r.nvmeGB,
    },
  };
  const total = r.sockets * r.coresPerSocket * r.threadsPerCore;
  const capacity: CapacitySummary = {
    vcpus: { total, reserved: r.reservedThreads, used: r.usedVcpus, free: r.freeVcpus },
    memoryMiB: {
      total: r.memoryMiB,
      reserved: r.reservedMemoryMiB,
      used: r.usedMemoryMiB,
      free: r.freeMemoryMiB,
    },
    nvmeGB: { total: r.nvmeGB, used: r.usedNvmeGB, free: r.freeNvmeGB },
    vms: r.vmCount,
  };
  return hostView(record, capacity, r.usageVersion);
}

/** The new host's record, its shape checked; the host's object is not made yet. */
function newHostRecord(input: CreateHostInput, hostId: string, now: number): HostRecord {
  checkZone("body.availabilityZone", input.availabilityZone);
  if (input.rack !== undefined) checkRack("body.rack", input.rack);
  const shape = input.hypervisor === "type2" ? hostedShape(input.family) : HOST_SHAPES[input.family];
  const sockets = input.sockets ?? shape.sockets;
  const record: HostRecord = {
    hostId,
    zone: input.availabilityZone,
    rack: input.rack ?? defaultRack(input.availabilityZone),
    family: input.family,
    hypervisor: shape.hypervisor,
    state: input.state ?? "available",
    createdAt: now,
    ...(input.optimizations ? { optimizations: input.optimizations } : {}),
    hw: {
      ...shape,
      sockets,
      coresPerSocket: input.coresPerSocket ?? shape.coresPerSocket,
      threadsPerCore: input.threadsPerCore ?? shape.threadsPerCore,
      memoryMiB: input.memoryMiB ?? shape.memoryMiB,
    },
  };
  const threads = record.hw.sockets * record.hw.coresPerSocket * record.hw.threadsPerCore;
  if (record.hw.reservedThreads >= threads) {
    throw invalidParameter(
      "body.coresPerSocket",
      `a ${shape.hypervisor} ${input.family} host keeps ${record.hw.reservedThreads} threads for itself; this one has ${threads}`,
    );
  }
  if (record.hw.reservedMemoryMiB >= record.hw.memoryMiB) {
    throw invalidParameter(
      "body.memoryMiB",
      `a ${shape.hypervisor} ${input.family} host keeps ${record.hw.reservedMemoryMiB} MiB for itself`,
    );
  }
  return record;
}

export async function createHost(fleet: Fleet, input: CreateHostInput): Promise<HostView> {
  const record = newHostRecord(input, input.hostId ?? newId("h"), await fleet.now());
  const [made] = await makeHosts(fleet, [record]);
  if (!made.ok) throw made.err;
  return hostView(made.value.host, made.value.usage.capacity, made.value.usage.version);
}

export type CreateHostsInput = Omit<CreateHostInput, "hostId"> & { count: number };

/**
 * `count` hosts of one shape in one request: their objects are made many at a time, and
 * their rows and verdicts go to D1 in one batch (host-creation.ts). A host whose object did
 * not answer may or may not exist: the answer names it, and reconcile (which lists D1's
 * hosts) never sees it until its object mirrors its creation through the queue.
 */
export async function createHosts(fleet: Fleet, input: CreateHostsInput) {
  checkHostCount("body.count", input.count);
  const now = await fleet.now();
  // Every host's record is checked before any object is made: bad input makes nothing.
  const records = Array.from({ length: input.count }, () => newHostRecord(input, newId("h"), now));
  const answers = await makeHosts(fleet, records);
  const failed = records.filter((_r, i) => !answers[i].ok).map((r) => r.hostId);
  for (const [i, a] of answers.entries()) {
    if (!a.ok) console.warn(`host ${records[i].hostId} did not answer its creation`, a.err);
  }
  if (failed.length === records.length) {
    throw new ApiError(
      500,
      "InternalError",
      `none of the ${records.length} new hosts' objects answered; any that were made show up in the inventory shortly`,
      { unanswered: failed.length },
    );
  }
  return {
    family: input.family,
    availabilityZone: input.availabilityZone,
    created: records.length - failed.length,
    hostIds: records.filter((_r, i) => answers[i].ok).map((r) => r.hostId),
    unanswered: failed,
  };
}

export interface HostFilter {
  availabilityZone?: string;
  family?: string;
  hypervisor?: string;
  state?: string;
  /** Any of these hosts (the EC2 Query API's HostId.N). */
  hostIds?: string[];
  cursor?: string;
  limit: number;
}

/** The hosts the caller may see: every host for the admin, for a tenant those it has instances on. */
function visibleHosts(fleet: Fleet): SQL | undefined {
  const caller = fleet.caller;
  if (caller.role === "admin") return undefined;
  // The hosts of its instances, and its Dedicated Hosts, empty ones included.
  return or(
    exists(
      fleet.db
        .select({ one: instances.id })
        .from(instances)
        .where(and(eq(instances.hostId, hosts.id), eq(instances.accountId, caller.accountId))),
    ),
    exists(
      fleet.db
        .select({ one: dedicatedHosts.hostId })
        .from(dedicatedHosts)
        .where(and(eq(dedicatedHosts.hostId, hosts.id), eq(dedicatedHosts.accountId, caller.accountId))),
    ),
  );
}

export async function listHosts(fleet: Fleet, f: HostFilter) {
  const where: (SQL | undefined)[] = [visibleHosts(fleet)];
  if (f.availabilityZone) where.push(eq(hosts.zone, f.availabilityZone));
  if (f.family) where.push(eq(hosts.family, f.family));
  if (f.hypervisor) where.push(eq(hosts.hypervisor, f.hypervisor));
  if (f.state) where.push(eq(hosts.state, f.state));
  if (f.hostIds) where.push(sql`${hosts.id} IN (SELECT value FROM json_each(${JSON.stringify(f.hostIds)}))`);
  if (f.cursor) where.push(gt(hosts.id, f.cursor));
  const rows = await fleet.db
    .select()
    .from(hosts)
    .where(and(...where))
    .orderBy(asc(hosts.id))
    .limit(f.limit + 1);
  const { page, nextCursor } = pageOf(rows, f.limit, (r) => r.id);
  return { hosts: page.map(fromRow), nextCursor };
}

export async function requireHostRow(fleet: Fleet, hostId: string): Promise<HostRow> {
  const row = await fleet.db
    .select()
    .from(hosts)
    .where(and(eq(hosts.id, hostId), visibleHosts(fleet)))
    .get();
  if (!row) throw hostNotFound(hostId);
  return row;
}

/** One host, read from its object (the truth), with the instances it holds. */
export async function describeHost(fleet: Fleet, hostId: string) {
  await requireHostRow(fleet, hostId);
  const stub = fleet.host(hostId);
  const res = await stub.describe(await fleet.clock());
  await mirrorApplied(fleet.db, res.events);
  const { host, usage, cpu } = res.result;
  // The instances come a page at a time: no answer of the host's grows with its VMs. The
  // caller's are listed; another account's are only counted.
  const shown: VmSummary[] = [];
  let otherInstances = 0;
  for await (const page of vmPages(stub)) {
    for (const v of page) {
      if (v.held) continue;
      if (sees(fleet.caller, v.accountId)) shown.push(v);
      else otherInstances++;
    }
  }
  return {
    ...hostView(host, usage.capacity, usage.version),
    virtualization: {
      windowSeconds: cpu.windowMs / 1000,
      hypervisorOverheadPct: cpu.hypervisorOverheadPct,
      utilizationPct: cpu.utilizationPct,
      cycles: cpu.cycles,
      offload: cpu.offload,
      features: cpu.features,
      optimizations: hostOptimizations(host),
    },
    instances: shown.map((v) => ({
      instanceId: v.instanceId,
      instanceType: v.instanceType,
      state: v.state,
      cpuPinning: v.threads,
    })),
    otherInstances,
  };
}

export async function setHostState(fleet: Fleet, hostId: string, state: HostState) {
  await requireHostRow(fleet, hostId);
  const res = await fleet.host(hostId).setState(state, await fleet.clock());
  await mirrorApplied(fleet.db, res.events);
  forgetCandidates(fleet, res.result.family);
  return hostView(res.result, res.usage.capacity, res.usage.version);
}

/** The host's frames by owner: a tenant sees its own VMs by name and the rest only summed. */
export async function hostMemory(fleet: Fleet, hostId: string) {
  await requireHostRow(fleet, hostId);
  // A tenant sees its own VMs' frames by name and the other accounts' only together.
  const viewer = fleet.caller.role === "tenant" ? fleet.caller.accountId : null;
  const res = await fleet.host(hostId).hostMemory(await fleet.clock(), viewer);
  await mirrorApplied(fleet.db, res.events);
  return { hostId, ...res.result };
}

/**
 * Which of the seed's optimizations pay for a workload on a kind of hypervisor: each switch
 * is tried on a small trial host by the CPU model and kept if it lowers the overhead.
 */
export function recommend(kind: HypervisorKind, workload: WorkloadSpec, memoryOvercommit: number) {
  return recommendOptimizations(kind, workload, { memoryOvercommit });
}
