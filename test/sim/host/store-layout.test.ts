import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type CpuVmRow, diffCpuVms } from "../../../src/host/cpu-rows";
import {
  diffPiece,
  PACK_BELOW_BYTES,
  PACKED_FIELD,
  type PieceState,
  type PieceWrite,
  packSmall,
  readPiece,
  SEGMENT_BYTES,
  trimmedEnd,
  unchangedPiece,
} from "../../../src/host/segments";
import { legacyPiece } from "./legacy-pieces";

/** One piece's rows (memory_pieces and memory_segments) as maps, written as writePiece writes them. */
class OnePiece {
  json: string | null = null;
  segments = new Map<string, Map<number, ArrayBuffer>>();
  rows = 0;

  apply(w: PieceWrite): void {
    if (w.fresh) {
      this.json = null;
      this.segments.clear();
    }
    if (w.json !== null) this.json = w.json;
    for (const f of w.drop) this.segments.delete(f);
    for (const t of w.truncate) {
      for (const idx of [...(this.segments.get(t.field)?.keys() ?? [])]) {
        if (idx >= t.from) this.segments.get(t.field)?.delete(idx);
      }
    }
    for (const s of w.segments) {
      const f = this.segments.get(s.field) ?? new Map<number, ArrayBuffer>();
      this.segments.set(s.field, f);
      f.set(s.idx, s.data);
      this.rows++;
    }
  }

  read(): { value: unknown; state: PieceState } {
    if (this.json === null) throw new Error("nothing stored");
    const segments = [...this.segments].flatMap(([field, m]) =>
      [...m].map(([idx, data]) => ({ field, idx, data })),
    );
    return readPiece(this.json, segments);
  }
}

/** A value with each typed array as its kind and bytes, so that two compare exactly. */
function plain(v: unknown): unknown {
  if (ArrayBuffer.isView(v)) {
    return `${v.constructor.name}:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex")}`;
  }
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === "object")
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

const KINDS = { Float64Array, Int32Array, Uint16Array, Uint8Array } as const;
type KindName = keyof typeof KINDS;

// Lengths in bytes around the edges that matter: empty, small (packed), just under and over a
// segment, and a few segments.
const byteLength = fc.oneof(
  fc.constantFrom(
    0,
    8,
    64,
    PACK_BELOW_BYTES - 8,
    PACK_BELOW_BYTES,
    SEGMENT_BYTES - 8,
    SEGMENT_BYTES,
    SEGMENT_BYTES + 8,
    2 * SEGMENT_BYTES,
    3 * SEGMENT_BYTES - 16,
  ),
  fc.integer({ min: 0, max: 3 * SEGMENT_BYTES }),
);
const typed = fc
  .record({
    kind: fc.constantFrom<KindName>("Float64Array", "Int32Array", "Uint16Array", "Uint8Array"),
    bytes: byteLength,
    // Mostly zeros, as the model's arrays are, or mostly -1s, as a pool's child slots are,
    // with a few values set.
    minusOnes: fc.boolean(),
    writes: fc.array(fc.tuple(fc.nat(), fc.integer({ min: -1000, max: 1000 })), { maxLength: 6 }),
  })
  .map(({ kind, bytes, minusOnes, writes }) => {
    const Ctor = KINDS[kind];
    const a = new Ctor(Math.floor(bytes / Ctor.BYTES_PER_ELEMENT));
    if (minusOnes) a.fill(-1);
    for (const [i, v] of writes) if (a.length > 0) a[i % a.length] = v;
    return a;
  });
const leaf = fc.oneof(
  { weight: 3, arbitrary: typed },
  {
    weight: 1,
    arbitrary: fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.boolean(), fc.constant(null)),
  },
);
// Images whose fields appear and disappear from one to the next: keys from a small pool.
const image = fc.dictionary(
  fc.constantFrom("a", "b", "c", "tlbs", "x.y"),
  fc.oneof({ weight: 3, arbitrary: leaf }, { weight: 1, arbitrary: fc.array(typed, { maxLength: 3 }) }),
  { maxKeys: 5 },
);

describe("the memory store's layout: segments, and a packed row of the small arrays", () => {
  it("reads back the last image written, whatever images came before, in either layout, with or without reloads", () => {
    fc.assert(
      fc.property(
        fc.array(image, { minLength: 1, maxLength: 6 }),
        fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
        fc.boolean(),
        (images, reloads, legacyFirst) => {
          const store = new OnePiece();
          let state: PieceState | undefined;
          images.forEach((img, i) => {
            if (i === 0 && legacyFirst) {
              // The first image as the store held it before packing: every array in its own segments.
              const old = legacyPiece(img);
              store.json = old.json;
              for (const s of old.segments)
                store.apply({ fresh: false, json: null, segments: [s], truncate: [], drop: [] });
              state = store.read().state;
            } else {
              const { write, state: next } = diffPiece(img, state);
              store.apply(write);
              state = next;
            }
            const back = store.read();
            expect(plain(back.value)).toEqual(plain(img));
            // The writer goes on from what it read back (a host object after an eviction) or from what it believed.
            if (reloads[i]) state = back.state;
          });
          // After a write in the new layout, no small array has segments of its own: every
          // array with segments is named in the JSON with a length of PACK_BELOW_BYTES or more.
          if (!legacyFirst || images.length > 1) {
            const lengths = new Map<string, number>();
            JSON.parse(store.json ?? "null", (_k, v: unknown) => {
              if (v !== null && typeof v === "object" && "$seg" in v) {
                const ref = v as unknown as { field: string; bytes?: number };
                lengths.set(ref.field, ref.bytes ?? 0);
              }
              return v;
            });
            for (const [field, segs] of store.segments) {
              if (field === PACKED_FIELD || segs.size === 0) continue;
              expect(lengths.get(field)).toBeGreaterThanOrEqual(PACK_BELOW_BYTES);
            }
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it("puts a piece's small arrays in one row, so a piece costs a row per large segment and one more", () => {
    const image = {
      counters: new Float64Array(35),
      free: Int32Array.of(3, 4, 5),
      fill: new Uint8Array(100),
      table: new Float64Array(3 * (SEGMENT_BYTES / 8)).fill(1),
    };
    const { write } = diffPiece(image, undefined);
    expect(write.segments.map((s) => `${s.field}:${s.idx}`).sort()).toEqual(
      [`${PACKED_FIELD}:0`, "table:0", "table:1", "table:2"].sort(),
    );
  });

  it("stores each segment without its trailing zeros, the last too, and reads them back", () => {
    // A page-table page with its first two entries set, then an empty page, then a last one.
    const table = new Float64Array(3 * (SEGMENT_BYTES / 8));
    table[0] = 7;
    table[1] = 9;
    table[2 * (SEGMENT_BYTES / 8)] = 1;
    const { write } = diffPiece({ table }, undefined);
    expect(write.segments.map((s) => [s.idx, s.data.byteLength])).toEqual([
      [0, 16],
      [2, 8],
    ]);
    // The JSON gives the length the last segment no longer does.
    expect(JSON.parse(write.json ?? "")).toEqual({
      table: { $seg: "Float64Array", field: "table", bytes: 3 * SEGMENT_BYTES },
    });
    // The page emptied later: its segment is rewritten as no bytes at all, and reads back as zeros.
    const store = new OnePiece();
    const first = diffPiece({ table }, undefined);
    store.apply(first.write);
    table.fill(0, 0, 2);
    const second = diffPiece({ table }, first.state);
    expect(second.write.segments.map((s) => [s.idx, s.data.byteLength])).toEqual([[0, 0]]);
    store.apply(second.write);
    expect(plain(store.read().value)).toEqual(plain({ table }));
  });

  it("stores an array of -1s (a pool's child slots) for the slots it sets, and reads the rest back as -1", () => {
    // Three pages of child slots, one set in the first page: the last two are left out.
    const child = new Int32Array(3 * (SEGMENT_BYTES / 4)).fill(-1);
    child[5] = 2;
    const store = new OnePiece();
    const first = diffPiece({ child }, undefined);
    expect(first.write.segments.map((s) => [s.idx, s.data.byteLength])).toEqual([[0, 24]]);
    expect(JSON.parse(first.write.json ?? "")).toEqual({
      child: { $seg: "Int32Array", field: "child", bytes: 3 * SEGMENT_BYTES, fill: 255 },
    });
    store.apply(first.write);
    expect(plain(store.read().value)).toEqual(plain({ child }));
    // The array keeps the fill it was stored with, whatever it ends in later.
    child[child.length - 1] = 0;
    const second = diffPiece({ child }, store.read().state);
    expect(second.write.json).toBeNull();
    expect(second.write.segments.map((s) => [s.idx, s.data.byteLength])).toEqual([[2, SEGMENT_BYTES]]);
    store.apply(second.write);
    expect(plain(store.read().value)).toEqual(plain({ child }));
  });

  it("reads a piece as schema version 9 stored it (no lengths, the last segment whole, arrays under 4 KiB packed) and moves it on its next write", () => {
    const table = new Float64Array(3 * (SEGMENT_BYTES / 8));
    table[0] = 7;
    table[2 * (SEGMENT_BYTES / 8)] = 1;
    const owners = new Int32Array(300);
    owners[10] = 4;
    const bytes = (a: Float64Array | Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const store = new OnePiece();
    store.json = JSON.stringify({
      table: { $seg: "Float64Array", field: "table" },
      owners: { $seg: "Int32Array", field: "owners" },
    });
    const seg = (field: string, idx: number, data: Uint8Array) => ({ field, idx, data: data.slice().buffer });
    store.apply({
      fresh: false,
      json: null,
      segments: [
        seg("table", 0, bytes(table).subarray(0, 8)),
        seg("table", 2, bytes(table).subarray(2 * SEGMENT_BYTES)),
        seg(PACKED_FIELD, 0, new Uint8Array(packSmall([{ name: "owners", bytes: bytes(owners) }]))),
      ],
      truncate: [],
      drop: [],
    });
    const read = store.read();
    expect(plain(read.value)).toEqual(plain({ table, owners }));
    table[1] = 9;
    owners[11] = 5;
    const next = diffPiece({ table, owners }, read.state);
    store.apply(next.write);
    expect(plain(store.read().value)).toEqual(plain({ table, owners }));
    // The owners (1,200 bytes) leave the packed row for a segment of their own, and the JSON names lengths.
    expect(store.segments.has(PACKED_FIELD) ? store.segments.get(PACKED_FIELD)?.size : 0).toBe(0);
    expect(JSON.parse(store.json ?? "")).toEqual({
      table: { $seg: "Float64Array", field: "table", bytes: 3 * SEGMENT_BYTES },
      owners: { $seg: "Int32Array", field: "owners", bytes: 1200 },
    });
  });

  it("refuses a segment that runs past the length the JSON gives", () => {
    const json = JSON.stringify({ t: { $seg: "Uint8Array", field: "t", bytes: SEGMENT_BYTES + 4 } });
    expect(() => readPiece(json, [{ field: "t", idx: 1, data: new ArrayBuffer(8) }])).toThrow(/runs past/);
    expect(() => readPiece(json, [{ field: "t", idx: 0, data: new ArrayBuffer(SEGMENT_BYTES + 1) }])).toThrow(
      /runs past/,
    );
  });

  it("finds where a range's trailing zeros (or 0xff bytes) start, at any alignment, as a byte-by-byte scan does", () => {
    const scan = (a: Uint8Array, start: number, end: number, fill: number) => {
      let at = end;
      while (at > start && a[at - 1] === fill) at--;
      return at;
    };
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 7 }),
        fc.array(fc.constantFrom(0, 0, 0, 1, 255, 255), { maxLength: 64 }),
        fc.nat(),
        fc.nat(),
        fc.constantFrom(0, 0xff),
        (offset, values, x, y, fill) => {
          const buffer = new Uint8Array(offset + values.length);
          buffer.set(values, offset);
          const a = buffer.subarray(offset);
          const [start, end] = [x % (a.length + 1), y % (a.length + 1)].sort((p, q) => p - q);
          expect(trimmedEnd(a, start, end, fill)).toBe(scan(a, start, end, fill));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("sees an untouched piece as unchanged, and nothing it calls unchanged would write anything", () => {
    fc.assert(
      fc.property(image, image, (a, b) => {
        const { state } = diffPiece(a, undefined);
        // The same arrays again (copies): unchanged, when there is nothing but arrays to compare,
        // in no empty container and under no key that reads as a path.
        const again = structuredClone(a);
        const onlyArrays =
          Object.keys(a).length > 0 &&
          Object.entries(a).every(
            ([k, v]) =>
              !k.includes(".") &&
              (ArrayBuffer.isView(v) ||
                (Array.isArray(v) && v.length > 0 && v.every((x) => ArrayBuffer.isView(x)))),
          );
        if (onlyArrays) expect(unchangedPiece(again, state)).toBe(true);
        if (unchangedPiece(b, state)) {
          const { write } = diffPiece(b, state);
          expect(write).toEqual({ fresh: false, json: null, segments: [], truncate: [], drop: [] });
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe("the CPU model's rows, one per VM", () => {
  it("holds each VM's last JSON, in the model's order, writing only the rows that changed or moved", () => {
    const ids = fc.constantFrom("i-a", "i-b", "i-c", "i-d", "i-e", "i-f");
    // Each step is the model's VMs in order (some new, some gone, some reordered) and their JSON.
    const step = fc.uniqueArray(fc.tuple(ids, fc.integer({ min: 0, max: 2 })), {
      selector: ([id]) => id,
      maxLength: 6,
    });
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 1, maxLength: 8 }),
        fc.array(fc.boolean(), { minLength: 8 }),
        (steps, reloads) => {
          const table = new Map<string, { seq: number; json: string }>();
          let believed = new Map<string, CpuVmRow>();
          let previous: readonly (readonly [string, number])[] = [];
          steps.forEach((vms, i) => {
            const written: string[] = [];
            const list = vms.map(([id, v]) => ({ id, json: `{"id":"${id}","v":${v}}` }));
            const gone = diffCpuVms(list, believed, (id, row) => {
              written.push(id);
              table.set(id, { ...row });
            });
            for (const id of gone) table.delete(id);
            // The table, read in the order of places, is the model's VMs in order.
            const read = [...table]
              .sort((x, y) => x[1].seq - y[1].seq)
              .map(([id, r]) => ({ id, json: r.json }));
            expect(read).toEqual(list);
            // A VM kept in place with the same JSON is not rewritten: appending one writes one row.
            const before = new Map(previous.map(([id, v]) => [id, v]));
            const same =
              previous.length <= vms.length &&
              previous.every(([id, v], k) => vms[k][0] === id && vms[k][1] === v);
            if (same) expect(written).toEqual(vms.slice(previous.length).map(([id]) => id));
            // A VM whose JSON changed, and a new one, are always rewritten.
            for (const [id, v] of vms) if (before.get(id) !== v) expect(written).toContain(id);
            previous = vms;
            if (reloads[i]) believed = new Map([...table].map(([id, r]) => [id, { ...r }]));
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});
