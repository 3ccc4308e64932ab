// A small typed helper over a Durable Object's SQLite, after cloudflare/agents: a tagged
// template whose interpolations are bound as parameters, never spliced into the SQL text.

export type Sql = <Row extends Record<string, SqlStorageValue> = Record<string, SqlStorageValue>>(
  strings: TemplateStringsArray,
  ...values: SqlStorageValue[]
) => Row[];

/**
 * What the statements run through one helper wrote: rows as SQLite counts them (the unit
 * Durable Objects bill), and the bytes of the values bound to the statements that wrote.
 */
export interface SqlWrites {
  rows: number;
  bytes: number;
}

/** A character that takes more than one byte in UTF-8. */
const WIDE = /[\u0080-\uffff]/;

/**
 * The length of `s` in UTF-8, counted rather than encoded: the store's JSON runs to tens of KB,
 * nearly always ASCII alone, which one native search tells.
 */
export function utf8Length(s: string): number {
  if (!WIDE.test(s)) return s.length;
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      // A surrogate pair: two UTF-16 units, four bytes.
      n += 2;
      i++;
    } else n += 2;
  }
  return n;
}

function boundBytes(values: readonly SqlStorageValue[]): number {
  let n = 0;
  for (const v of values) {
    if (v instanceof ArrayBuffer) n += v.byteLength;
    else if (typeof v === "string") n += utf8Length(v);
    else if (v !== null) n += 8;
  }
  return n;
}

/**
 * The text of each statement by its template: a literal's strings are one object for every run
 * of it, as are the ones `insertRows` and `deleteIn` keep, so each is joined once.
 */
const queries = new WeakMap<TemplateStringsArray, string>();

/** `sql\`SELECT body FROM vms WHERE instance_id = ${id}\`` runs with `id` as a bound value. */
export function sqlOver(storage: SqlStorage, writes?: SqlWrites): Sql {
  return <Row extends Record<string, SqlStorageValue>>(
    strings: TemplateStringsArray,
    ...values: SqlStorageValue[]
  ): Row[] => {
    let query = queries.get(strings);
    if (query === undefined) {
      query = strings.join("?");
      queries.set(strings, query);
    }
    const cursor = storage.exec<Row>(query, ...values);
    const rows = cursor.toArray();
    if (writes && cursor.rowsWritten > 0) {
      writes.rows += cursor.rowsWritten;
      writes.bytes += boundBytes(values);
    }
    return rows;
  };
}

/**
 * A Durable Object's SQLite binds at most 100 values to a statement
 * (developers.cloudflare.com/durable-objects/platform/limits/).
 */
export const MAX_BOUND = 100;

/** The same text the `sql` tag gets from a literal: `parts` joined by bound values. */
function statement(parts: readonly string[]): TemplateStringsArray {
  return Object.assign([...parts], { raw: [...parts] }) as unknown as TemplateStringsArray;
}

const texts = new Map<string, TemplateStringsArray>();

/**
 * Runs `head VALUES (?, ...), (?, ...)` for `rows` (each of the same width), as many rows to a
 * statement as the limit on bound values allows: one statement where a loop would run one per row.
 */
export function insertRows(sql: Sql, head: string, rows: readonly SqlStorageValue[][]): void {
  if (rows.length === 0) return;
  const width = rows[0].length;
  const per = Math.floor(MAX_BOUND / width);
  for (let i = 0; i < rows.length; i += per) {
    const chunk = rows.slice(i, i + per);
    const key = `${head}\u0000${width}\u0000${chunk.length}`;
    let text = texts.get(key);
    if (!text) {
      const parts = [`${head} VALUES (`];
      for (let r = 0; r < chunk.length; r++) {
        for (let c = 1; c < width; c++) parts.push(", ");
        parts.push(r === chunk.length - 1 ? ")" : "), (");
      }
      text = statement(parts);
      texts.set(key, text);
    }
    sql(text, ...chunk.flat());
  }
}

/**
 * Runs `head IN (?, ...)` for `keys`, chunked as `insertRows` does: `head` marks with `?` the
 * places of the values `before` ("DELETE FROM t WHERE a = ? AND b").
 */
export function deleteIn(
  sql: Sql,
  head: string,
  before: readonly SqlStorageValue[],
  keys: readonly SqlStorageValue[],
): void {
  const per = MAX_BOUND - before.length;
  for (let i = 0; i < keys.length; i += per) {
    const chunk = keys.slice(i, i + per);
    const key = `${head}\u0000${before.length}\u0000${chunk.length}`;
    let text = texts.get(key);
    if (!text) {
      const lead = head.split("?");
      const parts = [...lead.slice(0, -1), `${lead.at(-1)} IN (`];
      for (let k = 1; k < chunk.length; k++) parts.push(", ");
      parts.push(")");
      text = statement(parts);
      texts.set(key, text);
    }
    sql(text, ...before, ...chunk);
  }
}
