// The baseline for `npm run bench -- migration`: the same pre-copy with one object per guest page,
// each write of the guest simulated one by one, and every round scanning every page for its dirty bit.
import { Rng } from "../src/sim/cpu/rng";
import { type GuestWrites, type MigrationPolicy, PAGE_BYTES, type RoundView } from "../src/sim/migration";

interface Page {
  pfn: number;
  dirty: boolean;
  sentRounds: number;
}

export interface NaiveResult {
  rounds: number;
  transferredBytes: number;
  remainingPages: number;
  memoryMs: number;
}

export function runNaive(
  memoryBytes: number,
  linkBps: number,
  guest: GuestWrites,
  policy: MigrationPolicy,
  seed: number,
): NaiveResult {
  const pages: Page[] = [];
  const n = memoryBytes / PAGE_BYTES;
  for (let pfn = 0; pfn < n; pfn++) pages.push({ pfn, dirty: true, sentRounds: 0 });
  const rng = new Rng(seed);
  const hotPages = Math.round(guest.hotBytes / PAGE_BYTES);
  const hotStart = Math.floor(rng.next() * (n - hotPages + 1));
  let sent = 0;
  let previous: RoundView | null = null;
  for (let round = 0; ; round++) {
    const rate = Math.min(policy.roundRate(round, previous), linkBps);
    const throttle = policy.throttle();
    let toSend = 0;
    for (const p of pages) {
      if (p.dirty) {
        p.dirty = false;
        p.sentRounds++;
        toSend++;
      }
    }
    const seconds = (toSend * PAGE_BYTES * 8) / rate;
    const hotWrites = Math.round(guest.hotWritesPerSec * seconds * (1 - throttle));
    const coldWrites = Math.round(guest.coldWritesPerSec * seconds * (1 - throttle));
    for (let i = 0; i < hotWrites; i++) pages[hotStart + Math.floor(rng.next() * hotPages)].dirty = true;
    for (let i = 0; i < coldWrites; i++) pages[Math.floor(rng.next() * n)].dirty = true;
    let dirty = 0;
    for (const p of pages) if (p.dirty) dirty++;
    sent += toSend;
    previous = {
      round,
      pagesSent: toSend,
      durationMs: seconds * 1000,
      rateBps: rate,
      dirtyPages: dirty,
      totalPagesSent: sent,
      memoryPages: n,
      pageBytes: PAGE_BYTES,
    };
    const d = policy.afterRound(previous);
    if (d.kind === "continue") continue;
    const stopRate = Math.min(policy.stopRate(), linkBps);
    const remaining = d.kind === "stop-and-copy" ? dirty : 0;
    return {
      rounds: round + 1,
      transferredBytes: (sent + remaining) * PAGE_BYTES,
      remainingPages: d.kind === "stop-and-copy" ? 0 : dirty,
      memoryMs: (remaining * PAGE_BYTES * 8 * 1000) / stopRate,
    };
  }
}
