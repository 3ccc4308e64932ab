// Write marks on the memory model's large arrays (page-table pools, frame maps), so a store can
// rewrite what changed since it last wrote rather than the whole model: the cost of storing a
// translation then depends on what it touched, not on how much the guest touched before.

export type TypedArray =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array;

/**
 * The units of some arrays (a table slot, a 2 MiB record, ...) written since the marks were last
 * cleared. Each unit is listed once, so the list is never longer than the arrays have units.
 */
export class DirtyUnits {
  private marks = new Uint8Array(64);
  private list: number[] = [];
  /** Told when a unit is marked and none was: the arrays differ from what a store last took. */
  onFirstMark: (() => void) | null = null;

  mark(unit: number): void {
    if (unit >= this.marks.length) {
      const next = new Uint8Array(Math.max(unit + 1, this.marks.length * 2));
      next.set(this.marks);
      this.marks = next;
    }
    if (this.marks[unit] === 0) {
      if (this.list.length === 0 && this.onFirstMark !== null) this.onFirstMark();
      this.marks[unit] = 1;
      this.list.push(unit);
    }
  }

  /** The units marked since the last `clear`, in the order first marked. */
  units(): readonly number[] {
    return this.list;
  }

  clear(): void {
    for (const u of this.list) this.marks[u] = 0;
    this.list.length = 0;
  }
}

/**
 * A live view of a model array (its used length, not its capacity), with the marks of what was
 * written in it: unit u covers elements [u * unit, (u + 1) * unit). Several arrays indexed by
 * the same unit share one set of marks.
 */
export class Tracked<T extends TypedArray = TypedArray> {
  constructor(
    readonly array: T,
    readonly unit: number,
    readonly marks: DirtyUnits,
  ) {}
}

/**
 * A snapshot as a store reads it: any typed array may instead be a Tracked live view. Arrays
 * that are not tracked are small (bounded by the host's or the VM's configuration, never by
 * what the guest touched), so a store can compare them with what it last wrote.
 */
export type Image<T> = T extends TypedArray
  ? T | Tracked<T>
  : T extends readonly (infer U)[]
    ? Image<U>[]
    : T extends object
      ? { [K in keyof T]: Image<T[K]> }
      : T;

/** The snapshot an image stands for: every array copied, so later writes to the model do not show. */
export function materialize<T>(image: Image<T>): T {
  return copy(image) as T;
}

function copy(v: unknown): unknown {
  if (v instanceof Tracked) return v.array.slice();
  if (ArrayBuffer.isView(v)) return (v as TypedArray).slice();
  if (Array.isArray(v)) return v.map(copy);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = copy(x);
    return out;
  }
  return v;
}
