// What the CPU model says changed since a store last took it (HostCpu.takeChanges) covers every
// change to its stored state: a guest whose snapshot differs is named (or every guest is), and the
// host's part differs only when it says so.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HostCpu, PROFILE_NAMES } from "../../../src/sim/cpu";
import { C5_2XL, C5_LARGE, host96 } from "./fixtures";

type Op =
  | { kind: "add"; large: boolean }
  | { kind: "remove"; pick: number }
  | { kind: "profile"; pick: number; profile: (typeof PROFILE_NAMES)[number] }
  | { kind: "charge"; pick: number; n: number }
  | { kind: "advance"; ms: number }
  | { kind: "catchUp"; ms: number }
  | { kind: "skip"; ms: number }
  | { kind: "read"; pick: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("add" as const), large: fc.boolean() }),
  fc.record({ kind: fc.constant("remove" as const), pick: fc.nat() }),
  fc.record({
    kind: fc.constant("profile" as const),
    pick: fc.nat(),
    profile: fc.constantFrom(...PROFILE_NAMES),
  }),
  fc.record({ kind: fc.constant("charge" as const), pick: fc.nat(), n: fc.integer({ min: 1, max: 50 }) }),
  fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 3500 }) }),
  fc.record({ kind: fc.constant("catchUp" as const), ms: fc.integer({ min: 0, max: 200_000 }) }),
  fc.record({ kind: fc.constant("skip" as const), ms: fc.integer({ min: 0, max: 5000 }) }),
  fc.record({ kind: fc.constant("read" as const), pick: fc.nat() }),
);

describe("the CPU model's changes since a store took them", () => {
  it("name every guest whose snapshot changed, and the host's part whenever it changed", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("nitro" as const, "xen" as const),
        fc.array(op, { maxLength: 25 }),
        (kind, ops) => {
          const h = new HostCpu(host96(kind, kind === "xen" ? { xenGuestMode: "pv" } : {}));
          // A new model has nothing stored: everything is changed.
          expect(h.takeChanges()).toMatchObject({ host: true, all: true });
          let host = JSON.stringify(h.snapshotHost({ history: "totals" }));
          const vms = new Map<string, string>();
          let next = 0;
          for (const o of ops) {
            const ids = h.vmIds();
            const pick = (n: number) => ids[n % ids.length];
            if (o.kind === "add") {
              const id = `vm${next++}`;
              try {
                h.addVm(
                  id,
                  o.large ? C5_2XL : C5_LARGE,
                  "bursty",
                  next,
                  kind === "xen" ? { memoryModel: true } : {},
                );
              } catch {
                // Full: nothing was added.
              }
            } else if (o.kind === "remove" && ids.length > 0) h.removeVm(pick(o.pick));
            else if (o.kind === "profile" && ids.length > 0) h.setProfile(pick(o.pick), o.profile);
            else if (o.kind === "charge" && ids.length > 0)
              h.chargeHypercalls(pick(o.pick), { mmu_update: o.n });
            else if (o.kind === "advance") h.advance(h.nowMs + o.ms);
            else if (o.kind === "catchUp") h.catchUp(h.nowMs + o.ms);
            else if (o.kind === "skip") h.skipTo(h.nowMs + o.ms);
            else if (o.kind === "read" && ids.length > 0) {
              h.vmCounters(pick(o.pick), 60_000);
              h.hostSummary(60_000);
              h.priceTransfer(pick(o.pick), 100);
            }
            const c = h.takeChanges();
            const hostNow = JSON.stringify(h.snapshotHost({ history: "totals" }));
            if (hostNow !== host) expect(c.host).toBe(true);
            host = hostNow;
            for (const id of h.vmIds()) {
              const json = JSON.stringify(h.snapshotVm(id, { history: "totals" }));
              if (json !== vms.get(id) && !c.all) expect(c.vms).toContain(id);
              vms.set(id, json);
            }
            for (const id of [...vms.keys()]) {
              if (h.hasVm(id)) continue;
              if (!c.all) expect(c.vms).toContain(id);
              vms.delete(id);
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it("says nothing changed when nothing did: reads, and a clock within the same second", () => {
    const h = new HostCpu(host96("nitro"));
    h.addVm("vm0", C5_LARGE, "bursty", 1);
    h.advance(2000);
    h.takeChanges();
    h.advance(2500);
    h.vmCounters("vm0");
    h.hostSummary();
    h.priceTransfer("vm0", 10);
    expect(h.takeChanges()).toEqual({ host: false, all: false, vms: new Set() });
    h.setProfile("vm0", "idle");
    expect(h.takeChanges()).toEqual({ host: false, all: false, vms: new Set(["vm0"]) });
    h.advance(3000);
    expect(h.takeChanges()).toMatchObject({ host: true, all: true });
  });
});
