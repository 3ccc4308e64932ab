// Stores a model image (plain objects holding typed arrays, some of them tracked views: see
// sim/memory/dirty.ts) as JSON plus fixed-size segments of each array, and works out which
// segments changed since the last write, so a store rewrites those alone. The JSON gives each
// array's length and the byte its unstored bytes hold (zero, or 0xff for an array of -1s such
// as a pool's child slots); a segment is stored without its trailing run of that byte, and one
// of it alone that the store does not hold yet is left out, so a new TLB or frame map costs rows
// for what it holds, not for its size, and a page-table page with its few low entries set costs
// their bytes, not 4 KiB. The arrays shorter than PACK_BELOW_BYTES (counters, free lists, fill
// pointers) go together in one packed row of their piece, rewritten whole when any of them
// changes, so a piece costs a row per segment of its large arrays and one for all its small
// ones. `diffPiece` and `readPiece` are pure (tests apply their writes to a map); the tables
// are at the end.
import { type DirtyUnits, Tracked, type TypedArray } from "../sim/memory";
import { deleteIn, insertRows, type Sql } from "./sql";
import { KINDS, type Kind, kindOf } from "./typed-arrays";

/** 4 KiB: one page-table page, the unit the model writes; SQLite rows hold up to 2 MB. */
export const SEGMENT_BYTES = 4096;

/**
 * The field under which a piece's small arrays are stored together, as segment 0: no path of
 * an image's JSON starts with `$`. A piece stored before packing has its small arrays in
 * segments of their own; it reads either way, and its next write moves them to the pack.
 */
export const PACKED_FIELD = "$packed";

/** Arrays up to this size keep, after a load, a copy of their bytes to compare the next write with. */
const COPY_ON_LOAD_BYTES = 16 * 1024;

/**
 * What stands for an array in a piece's JSON: its kind and the name its segments are stored
 * under; for one in segments, its length in bytes and, when not zero, the byte that the bytes
 * the store leaves out hold (0xff for an array of -1s, such as a page-table pool's child slots).
 * A piece stored before lengths were named has neither: its last segment is whole, and gives
 * the length.
 */
export interface SegmentRef {
  $seg: Kind;
  field: string;
  bytes?: number;
  fill?: number;
}

/** The SegmentRef of an array: `bytes` null for one in the packed row, whose row gives its length. */
export function segmentRef(kind: Kind, field: string, bytes: number | null, fill = 0): SegmentRef {
  if (bytes === null) return { $seg: kind, field };
  return fill === 0 ? { $seg: kind, field, bytes } : { $seg: kind, field, bytes, fill };
}

/** What the store holds of one array, as far as this object knows. */
interface FieldState {
  byteLength: number;
  /** For an array the model does not track, and for any packed one, the bytes last written, to compare with. */
  copy: Uint8Array | null;
  /** Stored in the piece's packed row rather than in segments of its own. */
  packed: boolean;
  kind: Kind;
  /** The byte the store's missing bytes of the array stand for (segments only): 0, or 0xff. */
  fill: number;
}

/**
 * An array goes in the packed row when it is shorter than this. The packed row is rewritten whole
 * when any of its arrays changes, and an admission changes a few of the frame map's 2 KiB owner
 * maps: with these in segments of their own (stored trimmed), the 48th admission of
 * `npm run bench -- admission-storage` binds 20,049 bytes, where packing all below 4 KiB bound
 * 33,354 (the bench run with this set to 4096, 2026-11-26).
 */
export const PACK_BELOW_BYTES = 1024;

const isSmall = (byteLength: number) => byteLength < PACK_BELOW_BYTES;

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** Field names recur from call to call (the same paths in every VM's piece): encoded once. */
const encodedNames = new Map<string, Uint8Array>();
function encodedName(name: string): Uint8Array {
  let bytes = encodedNames.get(name);
  if (!bytes) {
    bytes = utf8.encode(name);
    if (encodedNames.size < 4096) encodedNames.set(name, bytes);
  }
  return bytes;
}

/** The packed row: for each array, its name's length and bytes, then its own length and bytes. */
export function packSmall(fields: readonly { name: string; bytes: Uint8Array }[]): ArrayBuffer {
  const names = fields.map((f) => encodedName(f.name));
  let size = 0;
  for (const [i, f] of fields.entries()) size += 8 + names[i].length + f.bytes.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const [i, f] of fields.entries()) {
    view.setUint32(at, names[i].length, true);
    out.set(names[i], at + 4);
    at += 4 + names[i].length;
    view.setUint32(at, f.bytes.length, true);
    out.set(f.bytes, at + 4);
    at += 4 + f.bytes.length;
  }
  return out.buffer;
}

export function unpackSmall(data: ArrayBuffer): Map<string, Uint8Array<ArrayBuffer>> {
  const bytes = new Uint8Array(data);
  const view = new DataView(data);
  const out = new Map<string, Uint8Array<ArrayBuffer>>();
  let at = 0;
  while (at < bytes.length) {
    if (at + 4 > bytes.length) throw new Error("packed row is cut short");
    const nameLength = view.getUint32(at, true);
    const name = utf8Decoder.decode(bytes.subarray(at + 4, at + 4 + nameLength));
    at += 4 + nameLength;
    if (at + 4 > bytes.length) throw new Error("packed row is cut short");
    const length = view.getUint32(at, true);
    if (at + 4 + length > bytes.length) throw new Error(`packed array ${name} is cut short`);
    out.set(name, bytes.slice(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return out;
}

/** What the store holds of one piece: its JSON and its arrays. */
export interface PieceState {
  json: string;
  fields: Map<string, FieldState>;
  /** Whether the store holds a packed row for the piece. */
  packHeld: boolean;
}

export interface PieceWrite {
  /** Nothing of the piece is known to be stored: remove whatever is, then write all of it. */
  fresh: boolean;
  /** The piece's JSON, when it changed. */
  json: string | null;
  segments: { field: string; idx: number; data: ArrayBuffer }[];
  /** Fields that shrank: their segments from `from` on are gone. */
  truncate: { field: string; from: number }[];
  /** Fields the piece no longer has. */
  drop: string[];
}

/** A stored segment, as read back. */
export interface StoredSegment {
  field: string;
  idx: number;
  data: ArrayBuffer;
}

function bytesOf(a: TypedArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

const segmentCount = (byteLength: number) => Math.ceil(byteLength / SEGMENT_BYTES);

/**
 * Where the range's trailing run of `fill` bytes (0 or 0xff) starts: `start` for a range of the
 * fill alone (a word at a time where aligned).
 */
export function trimmedEnd(a: Uint8Array, start: number, end: number, fill = 0): number {
  const word = fill === 0 ? 0 : -1;
  let at = end;
  while (at > start && ((a.byteOffset + at) & 3) !== 0 && a[at - 1] === fill) at--;
  if (((a.byteOffset + at) & 3) === 0 && at - start >= 4) {
    /** The first word-aligned offset at or after `start`. */
    const base = start + ((4 - ((a.byteOffset + start) & 3)) & 3);
    const words = new Int32Array(a.buffer, a.byteOffset + base, (at - base) >> 2);
    let w = words.length;
    while (w > 0 && words[w - 1] === word) w--;
    at = base + (w << 2);
  }
  while (at > start && a[at - 1] === fill) at--;
  return at;
}

/**
 * True when the two ranges hold the same bytes: compared a word at a time where both are aligned
 * (the bytes past the last whole word one by one), else byte by byte.
 */
function sameBytes(a: Uint8Array, b: Uint8Array, start: number, end: number): boolean {
  if (((a.byteOffset + start) & 3) === 0 && ((b.byteOffset + start) & 3) === 0) {
    const words = (end - start) >> 2;
    if (words > 0) {
      const wa = new Int32Array(a.buffer, a.byteOffset + start, words);
      const wb = new Int32Array(b.buffer, b.byteOffset + start, words);
      for (let i = 0; i < words; i++) if (wa[i] !== wb[i]) return false;
    }
    start += words << 2;
  }
  for (let i = start; i < end; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The writes that bring a stored piece (`stored`, or nothing) to `image`, and what the store
 * then holds. A small array is compared with what was last written, and any change among them
 * rewrites the packed row. A large tracked array contributes the segments its marks touch, an
 * untracked one the segments that differ from what was last written, and either one, after a
 * change of length, the last segment the two lengths share and every one past it, less those
 * of the fill alone past what the store holds; the marks are cleared, since the writes now
 * carry them.
 */
export function diffPiece(
  image: unknown,
  stored: PieceState | undefined,
): { write: PieceWrite; state: PieceState } {
  return new PieceDiff(stored).run(image);
}

/**
 * One `diffPiece`: its steps are methods rather than closures made for each call, which cost more
 * than the work for the small pieces most calls diff.
 */
class PieceDiff {
  readonly write: PieceWrite;
  readonly fields = new Map<string, FieldState>();
  readonly marks = new Set<DirtyUnits>();
  readonly small: { name: string; bytes: Uint8Array }[] = [];
  /** Whether the packed row the store holds differs from the one `small` makes. */
  packChanged = false;

  constructor(readonly stored: PieceState | undefined) {
    this.write = { fresh: !stored, json: null, segments: [], truncate: [], drop: [] };
  }

  run(image: unknown): { write: PieceWrite; state: PieceState } {
    const { write, stored, fields, small } = this;
    const json = JSON.stringify(this.walk(image, ""));
    if (json !== stored?.json) write.json = json;
    if (stored) {
      for (const [name, f] of stored.fields) {
        if (fields.has(name)) continue;
        if (f.packed) this.packChanged = true;
        else write.drop.push(name);
      }
    }
    const packHeld = stored?.packHeld ?? false;
    if (small.length > 0 && (this.packChanged || !packHeld)) {
      write.segments.push({ field: PACKED_FIELD, idx: 0, data: packSmall(small) });
    } else if (small.length === 0 && packHeld) write.drop.push(PACKED_FIELD);
    for (const m of this.marks) m.clear();
    return { write, state: { json, fields, packHeld: small.length > 0 } };
  }

  private walk(v: unknown, path: string): unknown {
    if (v instanceof Tracked || (ArrayBuffer.isView(v) && !(v instanceof DataView))) {
      const array = v instanceof Tracked ? v.array : (v as TypedArray);
      const kind = kindOf(array);
      const fill = this.field(path, v as TypedArray | Tracked, array, kind);
      return segmentRef(kind, path, fill === null ? null : array.byteLength, fill ?? 0);
    }
    if (Array.isArray(v)) {
      const out: unknown[] = new Array(v.length);
      for (let i = 0; i < v.length; i++) out[i] = this.walk(v[i], `${path}.${i}`);
      return out;
    }
    if (v !== null && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const k in v) {
        if (!Object.hasOwn(v, k)) continue;
        out[k] = this.walk((v as Record<string, unknown>)[k], path === "" ? k : `${path}.${k}`);
      }
      return out;
    }
    if (typeof v === "bigint") throw new TypeError("cannot store a bare bigint");
    return v;
  }

  private smallField(name: string, kind: Kind, bytes: Uint8Array, before: FieldState | undefined): void {
    this.small.push({ name, bytes });
    if (before && !before.packed) {
      // Stored before packing, or large until now: its segments go, it joins the pack.
      this.write.drop.push(name);
      this.packChanged = true;
    } else if (
      !before?.copy ||
      before.byteLength !== bytes.length ||
      !sameBytes(bytes, before.copy, 0, bytes.length)
    ) {
      this.packChanged = true;
    }
    const copy =
      before?.copy && before.byteLength === bytes.length ? before.copy : new Uint8Array(bytes.length);
    copy.set(bytes);
    this.fields.set(name, { byteLength: bytes.length, copy, packed: true, kind, fill: 0 });
  }

  /** Diffs one array; answers its fill byte if it is stored in segments, null if packed. */
  private field(name: string, value: TypedArray | Tracked, array: TypedArray, kind: Kind): number | null {
    const bytes = bytesOf(array);
    if (value instanceof Tracked) this.marks.add(value.marks);
    const stateBefore = this.stored?.fields.get(name);
    if (isSmall(bytes.length)) {
      this.smallField(name, kind, bytes, stateBefore);
      return null;
    }
    const write = this.write;
    // An array that was packed has no segments yet: it is written as new, and leaves the pack.
    const before = stateBefore?.packed ? undefined : stateBefore;
    if (stateBefore?.packed) this.packChanged = true;
    /** Segments below this one may be in the store; none at or past it are. */
    const held = before ? segmentCount(before.byteLength) : 0;
    // An array keeps the fill it was first stored with (the store leaves out bytes of it); a new
    // one takes 0xff when it ends in it, as an array of -1s does.
    const fill = before ? before.fill : bytes[bytes.length - 1] === 0xff ? 0xff : 0;
    const count = segmentCount(bytes.length);
    /** The segments to write, as marks by index (most arrays have a few dozen segments). */
    const dirty = new Uint8Array(count);
    if (!before) dirty.fill(1);
    else {
      if (value instanceof Tracked) {
        const unitBytes = value.unit * array.BYTES_PER_ELEMENT;
        for (const u of value.marks.units()) {
          const start = u * unitBytes;
          if (start >= bytes.length) continue;
          const end = Math.min(start + unitBytes, bytes.length);
          for (let s = Math.floor(start / SEGMENT_BYTES); s * SEGMENT_BYTES < end; s++) dirty[s] = 1;
        }
      } else if (before.copy === null) dirty.fill(1);
      else {
        const shared = Math.min(before.byteLength, bytes.length);
        for (let s = 0; s * SEGMENT_BYTES < shared; s++) {
          const start = s * SEGMENT_BYTES;
          if (!sameBytes(bytes, before.copy, start, Math.min(start + SEGMENT_BYTES, shared))) dirty[s] = 1;
        }
      }
      // A length change rewrites the last segment the two lengths share and all after it.
      if (before.byteLength !== bytes.length) {
        const from = Math.floor(Math.min(before.byteLength, bytes.length) / SEGMENT_BYTES);
        for (let s = from; s < count; s++) dirty[s] = 1;
        if (bytes.length < before.byteLength) write.truncate.push({ field: name, from: count });
      }
    }
    for (let s = 0; s < count; s++) {
      if (dirty[s] === 0) continue;
      const start = s * SEGMENT_BYTES;
      const end = Math.min(start + SEGMENT_BYTES, bytes.length);
      // A segment is stored up to its last byte that is not the fill (the piece's JSON gives the
      // array's length), and one of the fill alone is left out unless the store holds it.
      const stored = trimmedEnd(bytes, start, end, fill);
      if (s >= held && stored === start) continue;
      write.segments.push({ field: name, idx: s, data: bytes.slice(start, stored).buffer });
    }
    let copy: Uint8Array | null = null;
    if (!(value instanceof Tracked)) {
      // The last copy serves again when only some segments changed in place.
      if (before?.copy && before.byteLength === bytes.length) {
        copy = before.copy;
        for (let s = 0; s < count; s++) {
          if (dirty[s] === 1)
            copy.set(bytes.subarray(s * SEGMENT_BYTES, (s + 1) * SEGMENT_BYTES), s * SEGMENT_BYTES);
        }
      } else copy = bytes.slice();
    }
    this.fields.set(name, { byteLength: bytes.length, copy, packed: false, kind, fill });
    return fill;
  }
}

/**
 * True when `image` would write nothing over `stored`: the same arrays under the same names and of
 * the same kinds, each unmarked (a large tracked one) or equal to the bytes last written, and no
 * value besides arrays, whose JSON would need comparing (such an image answers false, and is
 * diffed); the JSON is then the same too, as it names the arrays, their lengths (compared here)
 * and their fills (which the state keeps). Far cheaper than `diffPiece` for the many pieces a
 * call leaves alone, the threads' TLBs.
 */
export function unchangedPiece(image: unknown, stored: PieceState): boolean {
  const seen = { n: 0 };
  return sameAsStored(image, "", stored, seen) && seen.n === stored.fields.size;
}

/**
 * `unchangedPiece` for the value at `path`, counting the arrays it meets in `seen`. A function of its
 * own rather than a closure: one made per call costs more than the check, for a TLB's three arrays.
 */
function sameAsStored(v: unknown, path: string, stored: PieceState, seen: { n: number }): boolean {
  if (v instanceof Tracked || (ArrayBuffer.isView(v) && !(v instanceof DataView))) {
    const array = v instanceof Tracked ? v.array : (v as TypedArray);
    const f = stored.fields.get(path);
    seen.n++;
    if (!f || f.byteLength !== array.byteLength || f.kind !== kindOf(array)) return false;
    if (v instanceof Tracked && !f.packed) return v.marks.units().length === 0;
    return f.copy !== null && sameBytes(bytesOf(array), f.copy, 0, f.byteLength);
  }
  // The arrays' names then say where each sits, so the same names mean the same JSON; an empty
  // container, or a key a name could not tell from a path or an index, answers false.
  if (Array.isArray(v)) {
    if (v.length === 0) return false;
    for (let i = 0; i < v.length; i++) if (!sameAsStored(v[i], `${path}.${i}`, stored, seen)) return false;
    return true;
  }
  if (v !== null && typeof v === "object") {
    let keys = 0;
    for (const k in v) {
      if (!Object.hasOwn(v, k)) continue;
      keys++;
      const x = (v as Record<string, unknown>)[k];
      if (!plainKey(k) || !sameAsStored(x, path === "" ? k : `${path}.${k}`, stored, seen)) return false;
    }
    return keys > 0;
  }
  return false;
}

/** Keys found to be neither an index nor to hold a dot; the same few recur in every image. */
const plainKeys = new Set<string>();

/** Whether a field's name tells key `k` apart from a path or an index. */
function plainKey(k: string): boolean {
  if (plainKeys.has(k)) return true;
  if (k.includes(".") || /^\d+$/.test(k)) return false;
  if (plainKeys.size < 4096) plainKeys.add(k);
  return true;
}

/**
 * The piece a store holds, from its JSON and its segments (in any order; the bytes left out
 * hold the array's fill; a small array may be in the packed row instead), and the state to diff the next
 * image against. Arrays of up to COPY_ON_LOAD_BYTES keep a copy to compare with: the TLBs'
 * fill pointers, the counters and the frame maps' lists. A larger untracked one (a big
 * page-walk cache) is rewritten whole by the first write after a load.
 */
export function readPiece<T>(
  json: string,
  segments: readonly StoredSegment[],
): { value: T; state: PieceState } {
  const byField = new Map<string, StoredSegment[]>();
  let packed = new Map<string, Uint8Array<ArrayBuffer>>();
  let packHeld = false;
  for (const s of segments) {
    if (s.field === PACKED_FIELD) {
      packed = unpackSmall(s.data);
      packHeld = true;
      continue;
    }
    const list = byField.get(s.field);
    if (list) list.push(s);
    else byField.set(s.field, [s]);
  }
  const fields = new Map<string, FieldState>();
  const value = JSON.parse(json, (_key, v: unknown) => {
    if (v === null || typeof v !== "object" || !("$seg" in v)) return v;
    const ref = v as SegmentRef;
    const Ctor = KINDS[ref.$seg];
    const small = packed.get(ref.field);
    if (small) {
      fields.set(ref.field, {
        byteLength: small.length,
        copy: small.slice(),
        packed: true,
        kind: ref.$seg,
        fill: 0,
      });
      return new Ctor(small.buffer, 0, small.length / Ctor.BYTES_PER_ELEMENT);
    }
    const parts = (byField.get(ref.field) ?? []).sort((a, b) => a.idx - b.idx);
    const last = parts.at(-1);
    // Without a length in the JSON (a piece stored before lengths were), the last segment is whole.
    const byteLength = ref.bytes ?? (last ? last.idx * SEGMENT_BYTES + last.data.byteLength : 0);
    const fill = ref.fill ?? 0;
    if (
      !Number.isInteger(byteLength) ||
      byteLength < 0 ||
      byteLength % Ctor.BYTES_PER_ELEMENT !== 0 ||
      (fill !== 0 && fill !== 0xff)
    )
      throw new Error(`array ${ref.field} has a length of ${byteLength} or a fill of ${fill}`);
    const bytes = new Uint8Array(byteLength);
    if (fill !== 0) bytes.fill(fill);
    for (const p of parts) {
      // A segment may be short (stored without its trailing fill), never long nor past the end.
      const at = p.idx * SEGMENT_BYTES;
      if (p.data.byteLength > SEGMENT_BYTES || at + p.data.byteLength > byteLength)
        throw new Error(
          `segment ${p.idx} of ${ref.field} runs past a segment or the array's ${byteLength} bytes`,
        );
      bytes.set(new Uint8Array(p.data), at);
    }
    fields.set(ref.field, {
      byteLength,
      copy: byteLength <= COPY_ON_LOAD_BYTES ? bytes.slice() : null,
      packed: false,
      kind: ref.$seg,
      fill,
    });
    return new Ctor(bytes.buffer, 0, byteLength / Ctor.BYTES_PER_ELEMENT);
  }) as T;
  return { value, state: { json, fields, packHeld } };
}

// ---- the tables: memory_pieces (piece, json) and memory_segments (piece, field, idx, data)

/**
 * Applies a piece's writes; run it inside the call's transaction. `absent`: the caller knows
 * the store holds nothing of the piece, so a fresh write need not clear it first. Segments go
 * in as few statements as the limit on bound values allows.
 */
export function writePiece(sql: Sql, piece: string, w: PieceWrite, absent = false): void {
  if (w.fresh && !absent) deletePiece(sql, piece);
  if (w.json !== null) sql`INSERT OR REPLACE INTO memory_pieces (piece, json) VALUES (${piece}, ${w.json})`;
  deleteIn(sql, "DELETE FROM memory_segments WHERE piece = ? AND field", [piece], w.drop);
  for (const t of w.truncate) {
    sql`DELETE FROM memory_segments WHERE piece = ${piece} AND field = ${t.field} AND idx >= ${t.from}`;
  }
  insertRows(
    sql,
    "INSERT OR REPLACE INTO memory_segments (piece, field, idx, data)",
    w.segments.map((s) => [piece, s.field, s.idx, s.data]),
  );
}

export function deletePiece(sql: Sql, piece: string): void {
  sql`DELETE FROM memory_pieces WHERE piece = ${piece}`;
  sql`DELETE FROM memory_segments WHERE piece = ${piece}`;
}

/** Every stored piece, read back, with the state to diff its next image against. */
export function readPieces(sql: Sql): Map<string, { value: unknown; state: PieceState }> {
  const segments = new Map<string, StoredSegment[]>();
  for (const r of sql<{ piece: string; field: string; idx: number; data: ArrayBuffer }>`
    SELECT piece, field, idx, data FROM memory_segments`) {
    const s = { field: r.field, idx: r.idx, data: r.data };
    const list = segments.get(r.piece);
    if (list) list.push(s);
    else segments.set(r.piece, [s]);
  }
  const out = new Map<string, { value: unknown; state: PieceState }>();
  for (const { piece, json } of sql<{ piece: string; json: string }>`SELECT piece, json FROM memory_pieces`) {
    out.set(piece, readPiece(json, segments.get(piece) ?? []));
  }
  return out;
}
