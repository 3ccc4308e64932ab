// The step-by-step view of one translation: every guest level, the EPT walk behind it,
// and each memory reference numbered, as in Bhargava et al. (ASPLOS 2008), figure 2. Under
// direct paging (Xen PV) the guest levels are the whole walk.

import type { MemoryExitReason } from "../exits";
import {
  ENTRIES,
  EPT_PS,
  EPT_RWX,
  EPT_W,
  entryFrame,
  FAULT_EPT_MISCONFIG,
  FAULT_EPT_VIOLATION,
  FAULT_GUEST_PF,
  FAULT_NAMES,
  type FaultCode,
  leafBytes,
  PAGE_4K,
  type PageSize,
  PTE_A,
  PTE_D,
  PTE_G,
  PTE_P,
  PTE_PS,
  PTE_RW,
  PTE_US,
  SPAN,
} from "./constants";
import { C } from "./counters";
import type { PagingMode } from "./options";
import type { RadixTable } from "./radix";
import type { TablePool } from "./tables";
import type { VmMemory } from "./vm";

export interface MemoryReference {
  /** 1-based position in the walk. */
  n: number;
  table: "guest" | "ept" | "shadow";
  level: number;
  /** Host-physical address of the 8-byte entry read. */
  hpa: number;
  entry: number;
}

export interface EntryFlags {
  present: boolean;
  writable: boolean;
  user: boolean;
  accessed: boolean;
  dirty: boolean;
  largePage: boolean;
  global: boolean;
}

export interface EptWalkTrace {
  gpa: number;
  /** Served by the nested TLB, so no references were made. */
  cached: boolean;
  references: MemoryReference[];
  hpa: number | null;
  pageSize: PageSize | null;
  fault: MemoryExitReason | null;
}

export interface GuestLevelStep {
  level: number;
  /** The guest table, addressed by its GPA (CR3 for the top level). */
  tableGpa: number;
  index: number;
  entryGpa: number;
  /** The nested walk that found where the guest entry lives in host memory; none under direct paging. */
  ept: EptWalkTrace | null;
  reference: MemoryReference | null;
  entry: number | null;
  flags: EntryFlags | null;
}

export interface Translation {
  mode: PagingMode;
  asid: number;
  vcpu: number;
  gva: number;
  write: boolean;
  tlbHit: boolean;
  /** Which TLB answered: 1 for the first level, 2 for the second-level TLB; null on a miss. */
  tlbLevel: 1 | 2 | null;
  hpa: number | null;
  /** The guest-physical address, from a software walk when the TLB answered. */
  gpa: number | null;
  /** Size of the combined translation: the smaller of the guest and EPT leaves. */
  pageSize: PageSize | null;
  /** Why the walk stopped, named as the exit it causes (exits.ts), or null when it translated. */
  fault: MemoryExitReason | null;
  memoryReferences: number;
  /** Level the guest walk started at when a paging-structure cache hit skipped the top. */
  pwcStartLevel: number | null;
  guest: GuestLevelStep[];
  finalEpt: EptWalkTrace | null;
  shadow: MemoryReference[];
}

function flagsOf(e: number): EntryFlags {
  return {
    present: (e & PTE_P) !== 0,
    writable: (e & PTE_RW) !== 0,
    user: (e & PTE_US) !== 0,
    accessed: (e & PTE_A) !== 0,
    dirty: (e & PTE_D) !== 0,
    largePage: (e & PTE_PS) !== 0,
    global: (e & PTE_G) !== 0,
  };
}

class Counter {
  n = 0;
  ref(
    table: MemoryReference["table"],
    level: number,
    pool: TablePool,
    slot: number,
    idx: number,
  ): MemoryReference {
    return {
      n: ++this.n,
      table,
      level,
      hpa: pool.frame[slot] * PAGE_4K + idx * 8,
      entry: pool.entries[slot * ENTRIES + idx],
    };
  }
}

/** Reads the EPT like the hardware does, recording, without changing anything. */
function traceEpt(vm: VmMemory, gpa: number, count: Counter, ntlbKey: number, ctx: number): EptWalkTrace {
  const nt = vm.ntlb;
  const gfn = Math.floor(gpa / PAGE_4K);
  if (nt !== null && ntlbKey >= 0 && nt[ntlbKey] === gfn && nt[ntlbKey + 1] === ctx) {
    return {
      gpa,
      cached: true,
      references: [],
      hpa: nt[ntlbKey + 2] + (gpa % PAGE_4K),
      pageSize: PAGE_4K,
      fault: null,
    };
  }
  const references: MemoryReference[] = [];
  let slot = vm.eptRoot;
  for (let level = vm.eptLevels; ; level--) {
    const pool = vm.ept.pool(level);
    const idx = Math.floor(gfn / SPAN[level]) & 511;
    const r = count.ref("ept", level, pool, slot, idx);
    references.push(r);
    const perm = r.entry & EPT_RWX;
    if (perm === 0 || (perm & 3) === EPT_W) {
      const code: FaultCode = perm === 0 ? FAULT_EPT_VIOLATION : FAULT_EPT_MISCONFIG;
      return { gpa, cached: false, references, hpa: null, pageSize: null, fault: FAULT_NAMES[code] };
    }
    if (level === 1 || (r.entry & EPT_PS) !== 0) {
      const size = leafBytes(level);
      return {
        gpa,
        cached: false,
        references,
        hpa: entryFrame(r.entry) * PAGE_4K + (gpa % size),
        pageSize: size,
        fault: null,
      };
    }
    slot = vm.ept.child(slot * ENTRIES + idx);
  }
}

/**
 * Translates gva on one vCPU with the full record of the walk. It has the same effects
 * as the hot path (TLB fill, A/D bits, counters) because it runs the hot walk after
 * recording, and it checks that both agree on the result and the reference count.
 */
export function traceTranslate(
  vm: VmMemory,
  vcpu: number,
  asid: number,
  gva: number,
  write: boolean,
): Translation {
  const ctx = vm.load(vcpu, asid);
  const t: Translation = {
    mode: vm.opts.mode,
    asid,
    vcpu,
    gva,
    write,
    tlbHit: false,
    tlbLevel: null,
    hpa: null,
    gpa: null,
    pageSize: null,
    fault: null,
    memoryReferences: 0,
    pwcStartLevel: null,
    guest: [],
    finalEpt: null,
    shadow: [],
  };
  const secondLevelHits = vm.counters[C.stlbHits];
  const cached = vm.tlbs[vcpu].lookup(gva, ctx, write);
  if (cached >= 0) {
    t.tlbHit = true;
    t.tlbLevel = vm.counters[C.stlbHits] > secondLevelHits ? 2 : 1;
    t.hpa = cached;
    const g = vm.guestLeaf(asid, gva);
    const h = g ? vm.eptLeaf(g.gpa) : null;
    t.gpa = g?.gpa ?? null;
    t.pageSize = g && h ? (Math.min(g.size, h.size) as PageSize) : null;
    return t;
  }
  const count = new Counter();
  let recorded: number | null = null;
  if (vm.shadow) recorded = recordShadow(vm, asid, gva, write, count, t);
  else if (vm.direct) recorded = recordDirect(vm, asid, gva, write, count, t);
  else recorded = record2d(vm, vcpu, asid, gva, write, ctx, count, t);
  const hot = vm.shadow
    ? vm.walkShadow(vcpu, asid, gva, write, ctx)
    : vm.direct
      ? vm.walkDirect(vcpu, asid, gva, write, ctx)
      : vm.walk2d(vcpu, asid, gva, write, ctx);
  t.memoryReferences = count.n;
  if (hot !== (recorded ?? hot) || vm.lastRefs !== count.n) {
    throw new Error(`trace diverged from the hardware walk: ${recorded}/${count.n} vs ${hot}/${vm.lastRefs}`);
  }
  if (hot >= 0) {
    t.hpa = hot;
    t.pageSize = vm.lastSize;
    t.gpa = vm.shadow ? (vm.guestLeaf(asid, gva)?.gpa ?? null) : vm.lastGpa;
  } else t.fault = FAULT_NAMES[hot as FaultCode];
  return t;
}

function record2d(
  vm: VmMemory,
  vcpu: number,
  asid: number,
  gva: number,
  write: boolean,
  ctx: number,
  count: Counter,
  t: Translation,
): number | null {
  const vpn = Math.floor(gva / PAGE_4K);
  let level = vm.guestLevels;
  let slot = vm.gRoot[asid];
  let tableGfn = vm.gpt.dir.frame[slot];
  const refilled = new Set<number>();
  const pwc = vm.pwc;
  if (pwc !== null) {
    for (let l = 2; l <= vm.guestLevels; l++) {
      const prefix = Math.floor(vpn / SPAN[l]);
      const k = ((vcpu * 6 + l) * vm.pwcSets + (prefix & (vm.pwcSets - 1))) * 4;
      if (pwc[k] === prefix && pwc[k + 1] === ctx) {
        level = l - 1;
        tableGfn = pwc[k + 2];
        slot = pwc[k + 3];
        t.pwcStartLevel = level;
        break;
      }
    }
  }
  for (;;) {
    const pool = vm.gpt.pool(level);
    const idx = Math.floor(vpn / SPAN[level]) & 511;
    const entryGpa = tableGfn * PAGE_4K + idx * 8;
    const nk = vm.ntlb !== null ? (vcpu * vm.ntlbSets + (tableGfn & (vm.ntlbSets - 1))) * 3 : -1;
    // The hardware fills the nested TLB as it walks: an entry this walk has already refilled
    // holds an upper table now, not the one the trace would find there before the walk.
    const ept = traceEpt(vm, entryGpa, count, refilled.has(nk) ? -1 : nk, ctx);
    if (nk >= 0 && !ept.cached && ept.hpa !== null) refilled.add(nk);
    const step: GuestLevelStep = {
      level,
      tableGpa: tableGfn * PAGE_4K,
      index: idx,
      entryGpa,
      ept,
      reference: null,
      entry: null,
      flags: null,
    };
    t.guest.push(step);
    if (ept.hpa === null) return null;
    const e = pool.entries[slot * ENTRIES + idx];
    step.reference = { n: ++count.n, table: "guest", level, hpa: ept.hpa, entry: e };
    step.entry = e;
    step.flags = flagsOf(e);
    if ((e & PTE_P) === 0 || (write && (e & PTE_RW) === 0)) return FAULT_GUEST_PF;
    if (level === 1 || (e & PTE_PS) !== 0) {
      const size = leafBytes(level);
      const gpa = entryFrame(e) * PAGE_4K + (gva % size);
      t.finalEpt = traceEpt(vm, gpa, count, -1, ctx);
      return t.finalEpt.hpa;
    }
    tableGfn = entryFrame(e);
    slot = vm.gpt.child(slot * ENTRIES + idx);
    level--;
  }
}

function recordShadow(
  vm: VmMemory,
  asid: number,
  gva: number,
  write: boolean,
  count: Counter,
  t: Translation,
): number | null {
  const vpn = Math.floor(gva / PAGE_4K);
  const spt = vm.spt as RadixTable;
  let slot = (vm.sRoot as Int32Array)[asid];
  for (let level = vm.guestLevels; ; level--) {
    const pool = spt.pool(level);
    const idx = Math.floor(vpn / SPAN[level]) & 511;
    const r = count.ref("shadow", level, pool, slot, idx);
    t.shadow.push(r);
    if ((r.entry & PTE_P) === 0 || (write && (r.entry & PTE_RW) === 0)) return null;
    if (level === 1 || (r.entry & PTE_PS) !== 0) {
      return entryFrame(r.entry) * PAGE_4K + (gva % leafBytes(level));
    }
    slot = spt.child(slot * ENTRIES + idx);
  }
}

/**
 * The guest's own table, as the hardware reads it under direct paging: each entry at the machine
 * address of its table (the P2M's frame for the table's pseudo-physical one), with no nested walk.
 */
function recordDirect(
  vm: VmMemory,
  asid: number,
  gva: number,
  write: boolean,
  count: Counter,
  t: Translation,
): number | null {
  const vpn = Math.floor(gva / PAGE_4K);
  let slot = vm.gRoot[asid];
  let tableGfn = vm.gpt.dir.frame[slot];
  for (let level = vm.guestLevels; ; level--) {
    const pool = vm.gpt.pool(level);
    const idx = Math.floor(vpn / SPAN[level]) & 511;
    const entryGpa = tableGfn * PAGE_4K + idx * 8;
    const machine = vm.eptLeaf(entryGpa);
    const e = pool.entries[slot * ENTRIES + idx];
    const step: GuestLevelStep = {
      level,
      tableGpa: tableGfn * PAGE_4K,
      index: idx,
      entryGpa,
      ept: null,
      reference: { n: ++count.n, table: "guest", level, hpa: machine?.hpa ?? -1, entry: e },
      entry: e,
      flags: flagsOf(e),
    };
    t.guest.push(step);
    if ((e & PTE_P) === 0 || (write && (e & PTE_RW) === 0)) return FAULT_GUEST_PF;
    if (level === 1 || (e & PTE_PS) !== 0) {
      const gpa = entryFrame(e) * PAGE_4K + (gva % leafBytes(level));
      return vm.eptLeaf(gpa)?.hpa ?? null;
    }
    tableGfn = entryFrame(e);
    slot = vm.gpt.child(slot * ENTRIES + idx);
  }
}
