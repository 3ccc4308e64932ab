// Instances: launch (with placement, partial launch and client tokens), describe, list,
// and the lifecycle actions. Instances on a host are changed only by that host's object;
// a stopped instance belongs to no host, and D1 (guarded by a claim) is its record.
import { and, asc, eq, gt, inArray, isNull, lt, ne, or, type SQL, sql } from "drizzle-orm";
import { clientTokens, hosts, instances, simClock } from "../db/schema";
import type { HostCallResult } from "../host/host-object";
import { findInstanceType, type HostHypervisor, type InstanceType } from "../sim/catalog";
import { resolveWorkload, type WorkloadSpec } from "../sim/cpu";
import { type ActResult, memoryOptions, offHostChange } from "../sim/host";
import {
  decide,
  type InstanceAction,
  type InstanceState,
  occupiesHost,
  STATE_CODES,
  settlesTo,
  TERMINATED_VISIBLE_MS,
} from "../sim/lifecycle";
import { resolveOptions } from "../sim/memory";
import { type HostCandidate, type PlacementStrategy, rankHosts } from "../sim/placement";
import type { FleetEvent, InstanceRecord, PagingOptions } from "../sim/records";
import type { Fleet } from "./context";
import { ApiError, instanceNotFound, invalidParameter } from "./errors";
import { newId, sha256Hex } from "./ids";
import { mirror, upsertInstance } from "./mirror";
import { pageOf } from "./paging";

export interface RunInstancesInput {
  instanceType: string;
  minCount: number;
  maxCount: number;
  availabilityZone?: string;
  placementStrategy: PlacementStrategy;
  clientToken?: string;
  tags: Record<string, string>;
  workload: WorkloadSpec;
  paging: PagingOptions;
}

type InstanceRow = typeof instances.$inferSelect;

export function rowToRecord(r: InstanceRow): InstanceRecord {
  return {
    instanceId: r.id,
    reservationId: r.reservationId,
    instanceType: r.instanceType,
    family: r.family as InstanceRecord["family"],
    hypervisor: r.hypervisor as InstanceRecord["hypervisor"],
    zone: r.zone,
    hostId: r.hostId,
    state: r.state as InstanceState,
    stateCode: r.stateCode,
    version: r.version,
    launchTime: r.launchTime,
    stateTransitionTime: r.stateTransitionTime,
    stateReason: r.stateReason,
    clientToken: r.clientToken,
    tags: JSON.parse(r.tags) as Record<string, string>,
    workload: r.workload.startsWith("{")
      ? (JSON.parse(r.workload) as WorkloadSpec)
      : (r.workload as WorkloadSpec),
    placementStrategy: r.placementStrategy,
    paging: JSON.parse(r.paging) as PagingOptions,
    vcpus: r.vcpus,
    memoryMiB: r.memoryMiB,
    nvmeGB: r.nvmeGB,
    threads: JSON.parse(r.threads) as number[],
    terminatedAt: r.terminatedAt,
  };
}

export function instanceView(i: InstanceRecord) {
  return {
    instanceId: i.instanceId,
    reservationId: i.reservationId,
    instanceType: i.instanceType,
    state: { code: i.stateCode, name: i.state },
    availabilityZone: i.zone,
    hostId: i.hostId,
    hypervisor: i.hypervisor,
    launchTime: new Date(i.launchTime).toISOString(),
    stateTransitionTime: new Date(i.stateTransitionTime).toISOString(),
    stateTransitionReason: i.stateReason,
    clientToken: i.clientToken,
    tags: i.tags,
    workload: i.workload,
    placementStrategy: i.placementStrategy,
    paging: i.paging,
    vcpus: i.vcpus,
    memoryMiB: i.memoryMiB,
    instanceStorageGB: i.nvmeGB,
    cpuPinning: i.threads,
  };
}
export type InstanceView = ReturnType<typeof instanceView>;

// ---- placement ----

function capacityError(type: InstanceType, zone: string | undefined, zonesWithCapacity: string[]): ApiError {
  const where = zone ? `in the Availability Zone (${zone})` : "in any Availability Zone";
  const hint =
    zonesWithCapacity.length > 0
      ? ` You can currently get ${type.name} capacity by not specifying an Availability Zone or by choosing ${zonesWithCapacity.join(", ")}.`
      : " Try again later, or choose another instance type.";
  return new ApiError(
    503,
    "InsufficientInstanceCapacity",
    `We currently do not have sufficient ${type.name} capacity ${where}.${hint}`,
    { instanceType: type.name, zonesWithCapacity },
    { "retry-after": "5" },
  );
}

async function candidates(fleet: Fleet, family: string): Promise<HostCandidate[]> {
  return fleet.db
    .select({
      id: hosts.id,
      zone: hosts.zone,
      family: hosts.family,
      state: hosts.state,
      freeVcpus: hosts.freeVcpus,
      freeMemoryMiB: hosts.freeMemoryMiB,
      freeNvmeGB: hosts.freeNvmeGB,
    })
    .from(hosts)
    .where(and(eq(hosts.family, family), eq(hosts.state, "available")));
}

/**
 * Places `records` (all of one type) on hosts: at least `minCount` or none. Each host's
 * object decides admission itself, so a host that lost a race simply admits fewer and
 * the next candidate is tried. Returns the placed records' events (already mirrored).
 */
async function place(
  fleet: Fleet,
  type: InstanceType,
  records: InstanceRecord[],
  minCount: number,
  zone: string | undefined,
  strategy: PlacementStrategy,
): Promise<FleetEvent[]> {
  const [clock, all] = await Promise.all([fleet.clock(), candidates(fleet, type.family)]);
  const request = {
    family: type.family,
    zone,
    vcpus: type.vcpus,
    memoryMiB: type.memoryMiB,
    nvmeGB: type.instanceStorage.totalGB,
  };
  const ranked = rankHosts(all, request, strategy);
  const events: FleetEvent[] = [];
  const held = new Map<string, string[]>();
  let remaining = records;
  let placed = 0;

  const commitHeld = async () => {
    for (const [hostId, ids] of held) {
      // A failed commit leaves its outcome unknown (it may have landed): no retry elsewhere,
      // and no claim that the launch failed. The error goes to the caller.
      events.push(...(await fleet.host(hostId).commit(ids, clock)).events);
      held.delete(hostId);
    }
    held.clear();
  };

  // Spread first shares what is left evenly over the hosts left, then (like binpack)
  // offers whatever still has no host to every host again.
  const passes: ("share" | "all")[] = strategy === "spread" ? ["share", "all"] : ["all"];
  try {
    for (const pass of passes) {
      for (let i = 0; i < ranked.length && remaining.length > 0; i++) {
        const share = pass === "share" ? Math.ceil(remaining.length / (ranked.length - i)) : remaining.length;
        const offer = remaining.slice(0, share);
        const commitIfAtLeast = Math.max(1, minCount - placed);
        // A host that fails to answer may still have admitted: these records must not be
        // offered anywhere else, so the error ends the launch (and cancels the holds).
        const res = await fleet.host(ranked[i].id).admit(offer, commitIfAtLeast, clock);
        events.push(...res.events);
        const admitted = new Set(res.result);
        if (admitted.size === 0) continue;
        if (admitted.size < commitIfAtLeast) held.set(ranked[i].id, res.result);
        placed += admitted.size;
        remaining = remaining.filter((r) => !admitted.has(r.instanceId));
        if (placed >= minCount && held.size > 0) await commitHeld();
      }
    }
  } finally {
    // Below the minimum: nothing launches, every hold is given back.
    for (const [hostId, ids] of held) {
      try {
        events.push(...(await fleet.host(hostId).cancel(ids, clock)).events);
      } catch (err) {
        console.warn("cancel of an admission hold failed; it lapses by itself", err);
      }
    }
    try {
      await mirror(fleet.db, events);
    } catch (err) {
      // The hosts' outboxes carry the same events to D1 through the queue.
      console.warn("mirroring a launch to D1 failed; the events queue will apply it", err);
    }
  }
  if (placed < minCount) {
    if (zone && !(await fleet.db.select({ z: hosts.zone }).from(hosts).where(eq(hosts.zone, zone)).get())) {
      throw invalidParameter("availabilityZone", `'${zone}' is not a zone of this fleet`);
    }
    const elsewhere = rankHosts(all, { ...request, zone: undefined }, "spread")
      .map((h) => h.zone)
      .filter((z) => z !== zone);
    throw capacityError(type, zone, [...new Set(elsewhere)].sort());
  }
  return events;
}

// ---- launch ----

function paramsOf(input: RunInstancesInput): string {
  const { clientToken: _t, ...rest } = input;
  const tags = Object.fromEntries(Object.entries(rest.tags).sort(([a], [b]) => (a < b ? -1 : 1)));
  return JSON.stringify({ ...rest, tags });
}

/** A pending token older than this belongs to a launch that died; another may take it over. */
const TOKEN_STALE_MS = 5 * 60_000;

type Replay = { reservationId: string; instances: InstanceView[] };

/** Waits for a concurrent launch with the token; null when the token is free to take. */
async function tokenReplay(fleet: Fleet, token: string, paramsHash: string): Promise<Replay | null> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const row = await fleet.db.select().from(clientTokens).where(eq(clientTokens.token, token)).get();
    if (!row) return null;
    if (row.paramsHash !== paramsHash) {
      throw new ApiError(
        409,
        "IdempotentParameterMismatch",
        `clientToken: '${token}' was already used with different parameters`,
        { clientToken: token },
      );
    }
    if (row.status === "done") {
      const ids = JSON.parse(row.instanceIds) as string[];
      const rows = ids.length
        ? await fleet.db.select().from(instances).where(inArray(instances.id, ids)).orderBy(asc(instances.id))
        : [];
      return { reservationId: row.reservationId, instances: rows.map((r) => instanceView(rowToRecord(r))) };
    }
    if (Date.now() - row.createdAt > TOKEN_STALE_MS) {
      await fleet.db
        .delete(clientTokens)
        .where(and(eq(clientTokens.token, token), eq(clientTokens.reservationId, row.reservationId)));
      return null;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new ApiError(
    409,
    "IdempotentInstanceInProgress",
    `clientToken: a launch with '${token}' is still in progress`,
  );
}

/** Takes the token for this launch (null), or answers with the launch that already has it. */
async function holdToken(fleet: Fleet, token: string, paramsHash: string, reservationId: string) {
  for (let round = 0; round < 3; round++) {
    const taken = await fleet.db
      .insert(clientTokens)
      .values({
        token,
        paramsHash,
        status: "pending",
        reservationId,
        instanceIds: "[]",
        createdAt: Date.now(),
      })
      .onConflictDoNothing()
      .returning({ token: clientTokens.token });
    if (taken.length > 0) return null;
    const replay = await tokenReplay(fleet, token, paramsHash);
    if (replay) return replay;
  }
  throw new ApiError(
    409,
    "IdempotentInstanceInProgress",
    `clientToken: a launch with '${token}' is still in progress`,
  );
}

export async function runInstances(fleet: Fleet, input: RunInstancesInput) {
  const type = findInstanceType(input.instanceType);
  if (!type) throw invalidParameter("instanceType", `'${input.instanceType}' is not a known instance type`);
  checkWorkload(input.workload);
  checkPaging(input.paging, type.hypervisor, type.vcpus);
  if (input.minCount > input.maxCount) throw invalidParameter("minCount", "must not exceed maxCount");
  const reservationId = newId("r");
  if (input.clientToken) {
    const replay = await holdToken(fleet, input.clientToken, await sha256Hex(paramsOf(input)), reservationId);
    if (replay) return replay;
  }
  const ownToken = input.clientToken
    ? and(eq(clientTokens.token, input.clientToken), eq(clientTokens.reservationId, reservationId))
    : undefined;

  // Times are the host's to set when it admits them (launchTime is when pending begins).
  const now = 0;
  const records: InstanceRecord[] = Array.from({ length: input.maxCount }, () => ({
    instanceId: newId("i"),
    reservationId,
    instanceType: type.name,
    family: type.family,
    hypervisor: type.hypervisor,
    zone: input.availabilityZone ?? "",
    hostId: null,
    state: "pending",
    stateCode: STATE_CODES.pending,
    version: 0,
    launchTime: now,
    stateTransitionTime: now,
    stateReason: "",
    clientToken: input.clientToken ?? null,
    tags: input.tags,
    workload: input.workload,
    placementStrategy: input.placementStrategy,
    paging: input.paging,
    vcpus: type.vcpus,
    memoryMiB: type.memoryMiB,
    nvmeGB: type.instanceStorage.totalGB,
    threads: [],
    terminatedAt: null,
  }));
  // Without a requested zone the instance takes its host's zone, filled in at admission.
  let events: FleetEvent[];
  try {
    events = await place(
      fleet,
      type,
      records,
      input.minCount,
      input.availabilityZone,
      input.placementStrategy,
    );
  } catch (err) {
    // A refusal launched nothing, so the token is free for a retry. After any other failure
    // the outcome is unknown: the token stays taken until it goes stale.
    if (ownToken && err instanceof ApiError) await fleet.db.delete(clientTokens).where(ownToken);
    throw err;
  }
  const launched = latestRecords(events).filter((r) => r.reservationId === reservationId);
  launched.sort((a, b) => (a.instanceId < b.instanceId ? -1 : 1));
  if (ownToken) {
    await fleet.db
      .update(clientTokens)
      .set({ status: "done", instanceIds: JSON.stringify(launched.map((r) => r.instanceId)) })
      .where(ownToken);
  }
  return { reservationId, instances: launched.map(instanceView) };
}

/** The newest record of each instance among `events`. */
function latestRecords(events: readonly FleetEvent[]): InstanceRecord[] {
  const latest = new Map<string, InstanceRecord>();
  for (const e of events) {
    if (!e.instance) continue;
    const prev = latest.get(e.instance.instanceId);
    if (!prev || prev.version < e.instance.version) latest.set(e.instance.instanceId, e.instance);
  }
  return [...latest.values()];
}

// ---- reading ----

/**
 * Terminated instances stay visible for an hour of simulated time. The simulated time is
 * read inside the query (sim/clock.ts simNow, in SQL), so a read is one D1 round trip.
 */
function visible(wallMs: number): SQL {
  // floor(x) as Math.floor does it: CAST truncates toward zero, so step down for negatives.
  const x = sql`((${wallMs} - c.anchor_wall_ms) * c.scale)`;
  const floor = sql`(CAST(${x} AS INTEGER) - (${x} < CAST(${x} AS INTEGER)))`;
  const now = sql`(SELECT c.anchor_sim_ms + CASE WHEN c.mode = 'scaled' THEN ${floor} ELSE 0 END FROM ${simClock} c WHERE c.id = 1)`;
  return or(
    ne(instances.state, "terminated"),
    sql`${instances.terminatedAt} > ${now} - ${TERMINATED_VISIBLE_MS}`,
  )!;
}

async function requireRow(fleet: Fleet, id: string): Promise<InstanceRow> {
  const row = await fleet.db
    .select()
    .from(instances)
    .where(and(eq(instances.id, id), visible(Date.now())))
    .get();
  if (!row) throw instanceNotFound(id);
  return row;
}

export async function describeInstance(fleet: Fleet, id: string) {
  const row = await requireRow(fleet, id);
  // A transition may have fallen due since D1 last heard: ask the host to settle it.
  if (row.hostId && settlesTo(row.state as InstanceState)) {
    const res = await fleet.host(row.hostId).settle(await fleet.clock());
    await mirror(fleet.db, res.events);
    const settled = latestRecords(res.events).find((r) => r.instanceId === id);
    if (settled) return instanceView(settled);
  }
  return instanceView(rowToRecord(row));
}

export interface InstanceFilter {
  state?: InstanceState[];
  instanceType?: string;
  hostId?: string;
  availabilityZone?: string;
  tags: [string, string | null][];
  cursor?: string;
  limit: number;
}

export async function listInstances(fleet: Fleet, f: InstanceFilter) {
  const where: SQL[] = [visible(Date.now())];
  if (f.state?.length) where.push(inArray(instances.state, f.state));
  if (f.instanceType) where.push(eq(instances.instanceType, f.instanceType));
  if (f.hostId) where.push(eq(instances.hostId, f.hostId));
  if (f.availabilityZone) where.push(eq(instances.zone, f.availabilityZone));
  for (const [key, value] of f.tags) {
    // json_each compares keys as values, so any character in a tag key is safe.
    where.push(
      value === null
        ? sql`EXISTS (SELECT 1 FROM json_each(${instances.tags}) WHERE json_each.key = ${key})`
        : sql`EXISTS (SELECT 1 FROM json_each(${instances.tags}) WHERE json_each.key = ${key} AND json_each.value = ${value})`,
    );
  }
  if (f.cursor) where.push(gt(instances.id, f.cursor));
  const rows = await fleet.db
    .select()
    .from(instances)
    .where(and(...where))
    .orderBy(asc(instances.id))
    .limit(f.limit + 1);
  const { page, nextCursor } = pageOf(rows, f.limit, (r) => r.id);
  return { instances: page.map((r) => instanceView(rowToRecord(r))), nextCursor };
}

// ---- lifecycle actions ----

/**
 * Mirrors a host's answer about one instance. When the host says the instance left it,
 * its last record there refreshes D1, so the caller's next read sees where it went.
 */
async function mirrorAnswer(fleet: Fleet, res: HostCallResult<ActResult>): Promise<ActResult> {
  const r = res.result;
  const extra = r.status === "not-here" && r.departed ? [upsertInstance(fleet.db, r.departed)] : [];
  await mirror(fleet.db, res.events, extra);
  return r;
}

/** Longer than the repair path's period, so a start whose mirror write was lost cannot run twice. */
const CLAIM_MS = 15 * 60_000;

function incorrectState(id: string, state: string, action: InstanceAction): ApiError {
  return new ApiError(
    409,
    "IncorrectInstanceState",
    `The instance '${id}' is not in a state from which it can be ${action === "stop" ? "stopped" : action === "start" ? "started" : action === "reboot" ? "rebooted" : "terminated"} (it is ${state})`,
    { instanceId: id, state, action },
  );
}

export interface StateChange {
  instanceId: string;
  previousState: { code: number; name: InstanceState };
  currentState: { code: number; name: InstanceState };
}

const stateOf = (s: InstanceState) => ({ code: STATE_CODES[s], name: s });

export async function act(fleet: Fleet, id: string, action: InstanceAction): Promise<StateChange> {
  // Two rounds at most: a host may tell us the instance left it, which refreshes D1.
  for (let round = 0; round < 2; round++) {
    const row = await requireRow(fleet, id);
    const previous = row.state as InstanceState;
    if (row.hostId && occupiesHost(previous)) {
      const r = await mirrorAnswer(fleet, await fleet.host(row.hostId).act(id, action, await fleet.clock()));
      if (r.status === "ok")
        return { instanceId: id, previousState: stateOf(previous), currentState: stateOf(r.instance.state) };
      if (r.status === "illegal") throw incorrectState(id, r.instance.state, action);
      continue;
    }
    return actOffHost(fleet, rowToRecord(row), action);
  }
  throw new ApiError(409, "IncorrectInstanceState", `The instance '${id}' is changing hosts; retry`, {
    instanceId: id,
  });
}

/** Stopped (or terminated) instances hold no host: D1 is their record, guarded by a claim. */
async function actOffHost(fleet: Fleet, rec: InstanceRecord, action: InstanceAction): Promise<StateChange> {
  const outcome = decide(rec.state, action);
  const previousState = stateOf(rec.state);
  if (outcome.kind === "illegal") throw incorrectState(rec.instanceId, rec.state, action);
  if (outcome.kind !== "transition")
    return { instanceId: rec.instanceId, previousState, currentState: previousState };

  const claim = crypto.randomUUID();
  const wallNow = Date.now();
  const won = await fleet.db
    .update(instances)
    .set({ claim, claimExpires: wallNow + CLAIM_MS })
    .where(
      and(
        eq(instances.id, rec.instanceId),
        eq(instances.version, rec.version),
        or(isNull(instances.claim), lt(instances.claimExpires, wallNow)),
      ),
    )
    .returning({ id: instances.id });
  if (won.length === 0) throw incorrectState(rec.instanceId, `${rec.state}, changing`, action);

  const release = () =>
    fleet.db
      .update(instances)
      .set({ claim: null, claimExpires: null })
      .where(and(eq(instances.id, rec.instanceId), eq(instances.claim, claim)));

  if (outcome.to === "terminated") {
    const { event } = offHostChange(rec, { state: "terminated" }, await fleet.now(), crypto.randomUUID());
    try {
      await mirror(fleet.db, [event]);
    } catch (err) {
      await release();
      throw err;
    }
    await fleet.publish([event]);
    return { instanceId: rec.instanceId, previousState, currentState: stateOf("terminated") };
  }

  // Start: a stopped instance may land on another host, as on EC2.
  const type = findInstanceType(rec.instanceType)!;
  try {
    await place(
      fleet,
      type,
      [{ ...rec, state: "stopped" }],
      1,
      rec.zone,
      rec.placementStrategy as PlacementStrategy,
    );
  } catch (err) {
    await release();
    throw err;
  }
  return { instanceId: rec.instanceId, previousState, currentState: stateOf("pending") };
}

// ---- workload and CPU ----

function checkPaging(paging: PagingOptions, hypervisor: HostHypervisor, vcpus: number): void {
  try {
    resolveOptions(memoryOptions(paging, hypervisor, vcpus));
  } catch (err) {
    throw invalidParameter("paging", err instanceof Error ? err.message : String(err));
  }
}

function checkWorkload(spec: WorkloadSpec): void {
  try {
    resolveWorkload(spec);
  } catch (err) {
    throw invalidParameter("workload", err instanceof Error ? err.message : String(err));
  }
}

/** Sets the workload profile; on a host the CPU model switches at once, otherwise at the next start. */
export async function setWorkload(fleet: Fleet, id: string, spec: WorkloadSpec) {
  checkWorkload(spec);
  for (let round = 0; round < 2; round++) {
    const row = await requireRow(fleet, id);
    if (row.state === "terminated") throw incorrectState(id, row.state, "reboot");
    if (row.hostId && occupiesHost(row.state as InstanceState)) {
      const r = await mirrorAnswer(
        fleet,
        await fleet.host(row.hostId).setWorkload(id, spec, await fleet.clock()),
      );
      if (r.status === "ok") return instanceView(r.instance);
      continue;
    }
    const rec = rowToRecord(row);
    const { instance: next, event } = offHostChange(
      rec,
      { workload: spec },
      await fleet.now(),
      crypto.randomUUID(),
    );
    // One conditional write: only if nobody changed or claimed the instance meanwhile.
    const won = await fleet.db
      .update(instances)
      .set({ workload: typeof spec === "string" ? spec : JSON.stringify(spec), version: next.version })
      .where(and(eq(instances.id, id), eq(instances.version, rec.version), isNull(instances.claim)))
      .returning({ id: instances.id });
    if (won.length === 0) continue;
    await mirror(fleet.db, [event]);
    await fleet.publish([event]);
    return instanceView(next);
  }
  throw new ApiError(409, "IncorrectInstanceState", `The instance '${id}' is changing; retry`, {
    instanceId: id,
  });
}

const MAX_WINDOW_S = 3600;

export async function instanceCpu(fleet: Fleet, id: string, windowSeconds: number) {
  const row = await requireRow(fleet, id);
  if (!row.hostId || !occupiesHost(row.state as InstanceState)) {
    throw new ApiError(
      409,
      "IncorrectInstanceState",
      `The instance '${id}' is ${row.state}: it runs on no host`,
      {
        instanceId: id,
        state: row.state,
      },
    );
  }
  const res = await fleet
    .host(row.hostId)
    .cpu(id, Math.min(windowSeconds, MAX_WINDOW_S) * 1000, await fleet.clock());
  await mirror(fleet.db, res.events);
  if (!res.result)
    throw new ApiError(409, "IncorrectInstanceState", `The instance '${id}' has left its host`);
  return { instanceId: id, hostId: row.hostId, hypervisor: row.hypervisor as HostHypervisor, ...res.result };
}

// ---- memory ----

async function hostedRow(fleet: Fleet, id: string) {
  const row = await requireRow(fleet, id);
  if (!row.hostId || !occupiesHost(row.state as InstanceState)) {
    throw new ApiError(
      409,
      "IncorrectInstanceState",
      `The instance '${id}' is ${row.state}: it has no memory on a host`,
      {
        instanceId: id,
        state: row.state,
      },
    );
  }
  return { row, hostId: row.hostId };
}

export interface AccessInput {
  address: string;
  addressSpace: number;
  vcpu: number;
  write: boolean;
}

/** Parses "0x7f00_0000", "0X7F000000" or a decimal string into a guest-virtual address. */
export function parseAddress(text: string): number | bigint {
  const clean = text.replaceAll("_", "");
  if (!/^(0[xX][0-9a-fA-F]{1,16}|[0-9]{1,20})$/.test(clean)) {
    throw invalidParameter("body.address", "must be a hex (0x...) or decimal address");
  }
  const value = BigInt(clean);
  if (value >= 2n ** 64n) throw invalidParameter("body.address", "must fit in 64 bits");
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

const hex = (n: number | null) => (n === null ? null : `0x${n.toString(16)}`);

export async function translateAddress(fleet: Fleet, id: string, input: AccessInput) {
  const gva = parseAddress(input.address);
  const { row, hostId } = await hostedRow(fleet, id);
  if (input.vcpu >= row.vcpus) throw invalidParameter("body.vcpu", `the instance has ${row.vcpus} vCPUs`);
  let res: Awaited<ReturnType<ReturnType<Fleet["host"]>["memoryAccess"]>>;
  try {
    res = await fleet
      .host(hostId)
      .memoryAccess(
        id,
        { asid: input.addressSpace, gva, vcpu: input.vcpu, write: input.write },
        await fleet.clock(),
      );
  } catch (err) {
    // The model refuses addresses it cannot hold (non-canonical, beyond the paging mode).
    if (err instanceof Error && err.name === "RangeError")
      throw invalidParameter("body.address", err.message);
    throw err;
  }
  await mirror(fleet.db, res.events);
  if (!res.result)
    throw new ApiError(409, "IncorrectInstanceState", `The instance '${id}' has left its host`);
  const { first, handled, final } = res.result;
  const done = final ?? first;
  return {
    instanceId: id,
    hostId,
    address: input.address,
    addressSpace: input.addressSpace,
    hpa: hex(done.hpa),
    gpa: hex(done.gpa),
    pageSize: done.pageSize,
    tlbHit: first.tlbHit,
    fault: first.fault,
    faultsHandled: handled,
    firstAttempt: first,
    retried: final,
  };
}

export async function instanceMemory(fleet: Fleet, id: string) {
  const { hostId } = await hostedRow(fleet, id);
  const res = await fleet.host(hostId).memorySummary(id, await fleet.clock());
  await mirror(fleet.db, res.events);
  if (!res.result)
    throw new ApiError(409, "IncorrectInstanceState", `The instance '${id}' has left its host`);
  return { instanceId: id, hostId, ...res.result };
}
