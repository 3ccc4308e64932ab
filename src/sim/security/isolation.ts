// The isolation audit of one host: checks run over the model's own state (frame map, EPT trees,
// vCPU pins, memory keys), each reporting what it examined and, for every violation, the evidence.
// The seed's "Security in Virtualized Environments" lists the four kinds of isolation a hypervisor
// owes its guests (memory, CPU, network, storage); encryption and measured boot join them here.
// Network and storage checks are functions of the same shape over the same state (CHECKS below).

import type { HostMemory } from "../memory";
import { PAGE_4K } from "../memory/constants";
import type { MemoryEncryption } from "./memory-encryption";

export const CHECK_NAMES = ["boot", "memory", "cpu", "encryption", "network", "storage"] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

export const FINDING_KINDS = [
  // memory
  "shared-frame",
  "foreign-mapping",
  // cpu
  "shared-thread",
  "shared-core",
  "hypervisor-thread",
  // encryption
  "missing-key",
  "shared-key",
  "foreign-ciphertext",
  // boot
  "chain-broken",
  "unknown-measurement",
  "config-mismatch",
  "unmeasured",
  // network
  "vni-mismatch",
  "foreign-network",
  // storage
  "cross-account-attachment",
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

/** What a read through a mapping yields to the VM that made it. */
export type ReadThrough = "ciphertext" | "plaintext" | "unwritten";

/** One violation and its evidence; fields that do not apply to its kind are null. */
export interface Finding {
  kind: FindingKind;
  detail: string;
  /** The instances involved (an audit for a tenant names other accounts' as "another account"). */
  instanceIds: string[];
  /** The resource the finding is about besides instances: a boot stage, an ENI, a volume. */
  resource: string | null;
  expected: string | null;
  found: string | null;
  hpa: string | null;
  gpa: string | null;
  thread: number | null;
  /** For a mapping that reaches another VM's frame: what the mapping's VM reads there. */
  readThrough: ReadThrough | null;
  /** The first 16 bytes that read yields, in hex: ciphertext, never the owner's data. */
  sample: string | null;
}

export interface CheckResult {
  check: CheckName;
  /** `unavailable`: the fleet has nothing of this kind to check yet. */
  status: "pass" | "fail" | "unavailable";
  /** What the check looked at, counted. */
  examined: Array<{ what: string; count: number }>;
  findings: Finding[];
  /** Findings beyond MAX_FINDINGS, counted but not listed. */
  findingsOmitted: number;
}

/** Findings listed per check; an answer must not grow with a badly broken host. */
export const MAX_FINDINGS = 50;

/** The parts of a host the checks read. */
export interface HostSecurityState {
  vms: ReadonlyArray<{ instanceId: string; accountId: string | null; threads: readonly number[] }>;
  threadsPerCore: number;
  /** Threads the hypervisor keeps (dom0 on Xen), the host's first ones. */
  reservedThreads: number;
  memory: HostMemory;
  encryption: MemoryEncryption;
}

export function finding(kind: FindingKind, detail: string, fields: Partial<Finding> = {}): Finding {
  return {
    kind,
    detail,
    instanceIds: [],
    resource: null,
    expected: null,
    found: null,
    hpa: null,
    gpa: null,
    thread: null,
    readThrough: null,
    sample: null,
    ...fields,
  };
}

export function result(
  check: CheckName,
  examined: Record<string, number>,
  all: Finding[],
  status?: CheckResult["status"],
): CheckResult {
  return {
    check,
    status: status ?? (all.length > 0 ? "fail" : "pass"),
    examined: Object.entries(examined).map(([what, count]) => ({ what, count })),
    findings: all.slice(0, MAX_FINDINGS),
    findingsOmitted: Math.max(0, all.length - MAX_FINDINGS),
  };
}

const hex = (n: number) => `0x${n.toString(16)}`;
const bytesHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/**
 * Memory: every host block a VM's EPT (and shadow tables) reaches, data and tables alike. No block
 * may be reached by two VMs, and each must be one the frame allocator gives to that VM. A mapping
 * that reaches another VM's frame is reported with what a read through it yields: with per-VM keys,
 * the frame's ciphertext decrypted under the wrong key.
 */
export function checkMemory(s: HostSecurityState): CheckResult {
  const found: Finding[] = [];
  const spans: Array<{ start: number; end: number; vmId: string }> = [];
  let blocks = 0;
  let frames = 0;
  for (const vmId of s.memory.vmIds()) {
    const vm = s.memory.vm(vmId);
    for (const b of vm.hostBlocks()) {
      blocks++;
      const n = 2 ** b.order;
      frames += n;
      spans.push({ start: b.frame, end: b.frame + n, vmId });
      // One finding per block: its first foreign frame, or the first that holds another's data.
      let evidence = -1;
      for (let f = b.frame; f < b.frame + n; f++) {
        if (s.memory.ownerOf(f * PAGE_4K) === vmId) continue;
        if (evidence < 0) evidence = f;
        if (b.kind === "ram" && s.encryption.hostView(f) !== null) {
          evidence = f;
          break;
        }
      }
      if (evidence >= 0) found.push(foreignMapping(s, vmId, b.kind, evidence));
    }
  }
  spans.sort((a, b) => a.start - b.start || (a.vmId < b.vmId ? -1 : 1));
  let reach = { end: -1, vmId: "" };
  for (const sp of spans) {
    if (sp.start < reach.end && sp.vmId !== reach.vmId) {
      found.push(
        finding(
          "shared-frame",
          `host frame ${hex(sp.start * PAGE_4K)} is reached by ${reach.vmId} and ${sp.vmId}`,
          {
            instanceIds: [reach.vmId, sp.vmId],
            hpa: hex(sp.start * PAGE_4K),
          },
        ),
      );
    }
    if (sp.end > reach.end) reach = { end: sp.end, vmId: sp.vmId };
  }
  return result("memory", { vms: s.memory.vmIds().length, hostBlocks: blocks, hostFrames: frames }, found);
}

function foreignMapping(s: HostSecurityState, vmId: string, kind: string, f: number): Finding {
  const owner = s.memory.ownerOf(f * PAGE_4K);
  const gpa = kind === "ram" ? gpaOf(s.memory, vmId, f) : null;
  const fields: Partial<Finding> = {
    instanceIds: owner === null ? [vmId] : [vmId, owner],
    hpa: hex(f * PAGE_4K),
    gpa: gpa === null ? null : hex(gpa),
    expected: vmId,
    found: owner ?? "free",
  };
  if (kind === "ram") {
    const written = s.encryption.hostView(f) !== null;
    fields.readThrough = !written
      ? "unwritten"
      : s.encryption.readsPlaintext(vmId, f)
        ? "plaintext"
        : "ciphertext";
    if (written && s.encryption.keyIdOf(vmId) !== null)
      fields.sample = bytesHex(s.encryption.read(vmId, f).subarray(0, 16));
  }
  const whose = owner === null ? "which is free" : `which belongs to ${owner}`;
  return finding(
    "foreign-mapping",
    `${vmId}'s ${kind} block reaches frame ${hex(f * PAGE_4K)}, ${whose}`,
    fields,
  );
}

/** The guest-physical address at which `vmId`'s EPT maps host frame `hfn` (a slow search: evidence only). */
function gpaOf(memory: HostMemory, vmId: string, hfn: number): number | null {
  const vm = memory.vm(vmId);
  const ept = vm.ept;
  const walk = (slot: number, level: number, base: number): number | null => {
    const pool = ept.pool(level);
    const span = 512 ** (level - 1);
    for (let idx = 0; idx < 512; idx++) {
      const e = pool.entries[slot * 512 + idx];
      if ((e & 7) === 0 || (e & 3) === 2) continue;
      const gfn = base + idx * span;
      const frame = Math.floor(e / PAGE_4K);
      if (level === 1 || (e & 0x80) !== 0) {
        if (hfn >= frame && hfn < frame + span) return (gfn + (hfn - frame)) * PAGE_4K;
      } else {
        const r = walk(ept.child(slot * 512 + idx), level - 1, gfn);
        if (r !== null) return r;
      }
    }
    return null;
  };
  return vm.eptRoot < 0 ? null : walk(vm.eptRoot, vm.eptLevels, 0);
}

/**
 * CPU: EC2 pins each vCPU to a hyperthread and never splits a core between instances, so no thread
 * (nor the other thread of its core, whose caches and buffers it shares: L1TF, MDS) may run two
 * accounts' vCPUs, and none may run on a thread the hypervisor keeps.
 */
export function checkCpu(s: HostSecurityState): CheckResult {
  const found: Finding[] = [];
  const byThread = new Map<number, Array<{ id: string; account: string | null }>>();
  const byCore = new Map<number, Array<{ id: string; account: string | null }>>();
  let pins = 0;
  for (const vm of s.vms) {
    for (const t of vm.threads) {
      pins++;
      const who = { id: vm.instanceId, account: vm.accountId };
      byThread.set(t, [...(byThread.get(t) ?? []), who]);
      const core = Math.floor(t / s.threadsPerCore);
      const onCore = byCore.get(core) ?? [];
      if (!onCore.some((o) => o.id === who.id)) byCore.set(core, [...onCore, who]);
      if (t < s.reservedThreads)
        found.push(
          finding(
            "hypervisor-thread",
            `${vm.instanceId} has a vCPU on thread ${t}, which the hypervisor keeps`,
            {
              instanceIds: [vm.instanceId],
              thread: t,
            },
          ),
        );
    }
  }
  const crossAccount = (list: Array<{ account: string | null }>) =>
    new Set(list.map((o) => o.account ?? "(none)")).size > 1;
  const shared = new Set<number>();
  for (const [t, list] of [...byThread].sort((a, b) => a[0] - b[0])) {
    if (list.length < 2 || !crossAccount(list)) continue;
    shared.add(Math.floor(t / s.threadsPerCore));
    found.push(
      finding(
        "shared-thread",
        `thread ${t} runs vCPUs of ${list.map((o) => o.id).join(" and ")}, of different accounts`,
        {
          instanceIds: list.map((o) => o.id),
          thread: t,
        },
      ),
    );
  }
  for (const [core, list] of [...byCore].sort((a, b) => a[0] - b[0])) {
    if (list.length < 2 || !crossAccount(list) || shared.has(core)) continue;
    found.push(
      finding(
        "shared-core",
        `core ${core} runs vCPUs of ${list.map((o) => o.id).join(" and ")}, of different accounts`,
        {
          instanceIds: list.map((o) => o.id),
          thread: core * s.threadsPerCore,
        },
      ),
    );
  }
  return result("cpu", { vms: s.vms.length, pinnedVcpus: pins, threads: byThread.size }, found);
}

/**
 * Encryption: every VM with memory here has a key, no two share one, and every frame holding
 * ciphertext holds it under the key of the VM the allocator gives that frame to.
 */
export function checkEncryption(s: HostSecurityState): CheckResult {
  const found: Finding[] = [];
  const vmIds = s.memory.vmIds();
  for (const vmId of vmIds) {
    if (s.encryption.keyIdOf(vmId) === null)
      found.push(finding("missing-key", `${vmId} has no memory key`, { instanceIds: [vmId] }));
  }
  for (const { vmIds: ids } of s.encryption.sharedKeys())
    found.push(finding("shared-key", `${ids.join(" and ")} hold the same memory key`, { instanceIds: ids }));
  const byKey = new Map(s.encryption.keyIds().map((k) => [k.keyId, k.vmId]));
  const written = s.encryption.writtenFrames();
  for (const { hfn, keyId } of written) {
    const owner = s.memory.ownerOf(hfn * PAGE_4K);
    const writer = byKey.get(keyId) ?? null;
    if (owner !== null && owner === writer) continue;
    found.push(
      finding(
        "foreign-ciphertext",
        `frame ${hex(hfn * PAGE_4K)} holds ciphertext under key ${keyId} but belongs to ${owner ?? "nobody"}`,
        {
          instanceIds: [writer, owner].filter((x): x is string => x !== null),
          hpa: hex(hfn * PAGE_4K),
          expected: owner ?? "free",
          found: writer ?? `key ${keyId}`,
        },
      ),
    );
  }
  return result(
    "encryption",
    { vms: vmIds.length, keys: byKey.size, encryptedFrames: written.length },
    found,
  );
}

/** The checks a host runs over its own state; boot is judged by the fleet, which holds the allow-list. */
export const HOST_CHECKS: ReadonlyArray<(s: HostSecurityState) => CheckResult> = [
  checkMemory,
  checkCpu,
  checkEncryption,
];
