// The replication rules under random sequences of writes, node failures, heals and resync steps, run
// against in-memory nodes that keep each block's newest write, as the storage node objects do.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  acknowledged,
  chooseNodes,
  healthOf,
  REPLICATION_FACTOR,
  type Replica,
  racksDistinct,
  readSources,
  type StorageNodeRecord,
  withoutNode,
  writeTargets,
} from "../../../src/sim/storage/replicas";

interface Node {
  rec: StorageNodeRecord;
  blocks: Map<number, { seq: number; data: number }> | null;
}

type Op =
  | { kind: "write"; n: number; data: number }
  | { kind: "fail"; node: number }
  | { kind: "heal"; node: number }
  | { kind: "resync" };

/** One volume over `racks` nodes (one a rack), driven the way the fleet drives it. */
class Harness {
  nodes: Node[];
  replicas: Replica[];
  seq = 0;
  /** Of each block, the newest acknowledged write. */
  acked = new Map<number, { seq: number; data: number }>();
  /** A syncing copy's copying cursor: the last block copied into it. */
  cursor = -1;
  racksAlwaysDistinct = true;

  constructor(racks: number) {
    this.nodes = Array.from({ length: racks }, (_, i) => ({
      rec: { nodeId: `sn-${i}`, zone: "z", rack: `r${i}`, state: "available", version: 1, createdAt: 0 },
      blocks: null,
    }));
    const chosen = chooseNodes(this.records(), "z", [], REPLICATION_FACTOR);
    this.replicas = chosen.map((c) => ({ nodeId: c.nodeId, rack: c.rack, state: "in-sync" }));
    for (const c of chosen) this.node(c.nodeId).blocks = new Map();
  }

  records = () => this.nodes.map((n) => n.rec);
  node = (id: string) => this.nodes.find((n) => n.rec.nodeId === id)!;
  live = (id: string) => this.node(id).rec.state === "available";

  check() {
    if (!racksDistinct(this.replicas)) this.racksAlwaysDistinct = false;
  }

  apply(op: Op) {
    switch (op.kind) {
      case "write": {
        const seq = ++this.seq;
        const took = new Set<string>();
        // Write, read the copy list again, write whatever joined it, until nothing is left out.
        for (;;) {
          const targets = writeTargets(this.replicas, this.live);
          const pending = targets.filter((r) => !took.has(r.nodeId));
          if (pending.length === 0) {
            if (acknowledged(targets, took)) this.acked.set(op.n, { seq, data: op.data });
            break;
          }
          for (const r of pending) {
            const b = this.node(r.nodeId).blocks!;
            if ((b.get(op.n)?.seq ?? 0) < seq) b.set(op.n, { seq, data: op.data });
            took.add(r.nodeId);
          }
        }
        break;
      }
      case "fail": {
        const n = this.nodes[op.node % this.nodes.length];
        const after = withoutNode(this.replicas, n.rec.nodeId);
        // The generator never takes the last full copy: losing every copy loses data by definition.
        if (n.rec.state === "failed" || readSources(after, this.live).length === 0) return;
        n.rec = { ...n.rec, state: "failed" };
        if (this.replicas.some((r) => r.nodeId === n.rec.nodeId && r.state === "syncing")) this.cursor = -1;
        this.replicas = after;
        break;
      }
      case "heal": {
        const n = this.nodes[op.node % this.nodes.length];
        if (n.rec.state !== "failed") return;
        n.rec = { ...n.rec, state: "available" };
        n.blocks = null;
        break;
      }
      case "resync": {
        const syncing = this.replicas.find((r) => r.state === "syncing");
        if (!syncing) {
          if (healthOf(this.replicas) === "ok") return;
          const [target] = chooseNodes(this.records(), "z", this.replicas, 1);
          if (!target) return;
          this.node(target.nodeId).blocks = new Map();
          this.replicas = [...this.replicas, { nodeId: target.nodeId, rack: target.rack, state: "syncing" }];
          this.cursor = -1;
          break;
        }
        // One block a step, so that writes fall between the steps of a copy.
        const source = readSources(this.replicas, this.live)[0];
        const from = this.node(source.nodeId).blocks!;
        const next = [...from.keys()].filter((k) => k > this.cursor).sort((a, b) => a - b)[0];
        if (next === undefined) {
          this.replicas = this.replicas.map((r) => (r === syncing ? { ...r, state: "in-sync" } : r));
          break;
        }
        const into = this.node(syncing.nodeId).blocks!;
        const b = from.get(next)!;
        if ((into.get(next)?.seq ?? 0) < b.seq) into.set(next, { ...b });
        this.cursor = next;
        break;
      }
    }
    this.check();
  }
}

const op = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ kind: fc.constant("write" as const), n: fc.nat(7), data: fc.nat(1 << 20) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("fail" as const), node: fc.nat(9) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("heal" as const), node: fc.nat(9) }) },
  { weight: 4, arbitrary: fc.constant({ kind: "resync" as const }) },
);

describe("replication", () => {
  it("places copies in distinct racks, and never more than one a rack however nodes fail and heal", () => {
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 6 }), fc.array(op, { maxLength: 80 }), (racks, ops) => {
        const h = new Harness(racks);
        for (const o of ops) h.apply(o);
        expect(h.racksAlwaysDistinct).toBe(true);
        expect(h.replicas.length).toBeLessThanOrEqual(REPLICATION_FACTOR + 1);
      }),
      { numRuns: 300 },
    );
  });

  it("loses no acknowledged write across random writes, failures, heals and resyncs", () => {
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 6 }), fc.array(op, { maxLength: 120 }), (racks, ops) => {
        const h = new Harness(racks);
        for (const o of ops) h.apply(o);
        // Finish whatever resync is under way; then every full copy holds every acknowledged write.
        for (let i = 0; i < 200; i++) h.apply({ kind: "resync" });
        const full = readSources(h.replicas, h.live);
        expect(full.length).toBeGreaterThan(0);
        for (const r of full) {
          const blocks = h.node(r.nodeId).blocks!;
          for (const [n, w] of h.acked) expect(blocks.get(n)).toEqual(w);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("would lose writes if a syncing copy took no writes of its own (the harness can fail)", () => {
    // A copy that is only copied into, not written, misses a write to a block its copying had passed.
    const h = new Harness(4);
    h.apply({ kind: "write", n: 0, data: 1 });
    h.apply({ kind: "fail", node: 0 });
    h.apply({ kind: "resync" }); // opens a copy on the fourth rack
    h.apply({ kind: "resync" }); // copies block 0
    const syncing = h.replicas.find((r) => r.state === "syncing")!;
    // Write as if syncing copies were not targets: only the full ones.
    h.replicas = h.replicas.map((r) => (r === syncing ? { ...r, state: "in-sync" as const } : r));
    const full = writeTargets(h.replicas, h.live).filter((r) => r.nodeId !== syncing.nodeId);
    for (const r of full) h.node(r.nodeId).blocks!.set(0, { seq: 99, data: 2 });
    expect(h.node(syncing.nodeId).blocks!.get(0)?.data).toBe(1);
  });

  it("acknowledges a write only when every copy it went to took it and one of them is full", () => {
    const reps: Replica[] = [
      { nodeId: "a", rack: "1", state: "in-sync" },
      { nodeId: "b", rack: "2", state: "syncing" },
    ];
    expect(acknowledged(reps, new Set(["a", "b"]))).toBe(true);
    expect(acknowledged(reps, new Set(["a"]))).toBe(false);
    expect(acknowledged([reps[1]], new Set(["b"]))).toBe(false);
    expect(acknowledged([], new Set())).toBe(false);
  });

  it("chooses the least loaded node of each unused rack", () => {
    const node = (
      id: string,
      rack: string,
      state: "available" | "failed" = "available",
    ): StorageNodeRecord => ({
      nodeId: id,
      zone: "z",
      rack,
      state,
      version: 1,
      createdAt: 0,
    });
    const nodes = [node("a", "1"), node("b", "1"), node("c", "2"), node("d", "3", "failed"), node("e", "4")];
    const load = new Map([
      ["a", 5],
      ["b", 1],
    ]);
    const got = chooseNodes(nodes, "z", [], 3, (id) => load.get(id) ?? 0).map((n) => n.nodeId);
    expect(got).toEqual(["c", "e", "b"]);
    expect(
      chooseNodes(nodes, "z", [{ nodeId: "c", rack: "2" }], 3)
        .map((n) => n.rack)
        .sort(),
    ).toEqual(["1", "4"]);
  });
});
