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

const utf8 = new TextEncoder();

function boundBytes(values: readonly SqlStorageValue[]): number {
  let n = 0;
  for (const v of values) {
    if (v instanceof ArrayBuffer) n += v.byteLength;
    else if (typeof v === "string") n += utf8.encode(v).length;
    else if (v !== null) n += 8;
  }
  return n;
}

/** `sql\`SELECT body FROM vms WHERE instance_id = ${id}\`` runs with `id` as a bound value. */
export function sqlOver(storage: SqlStorage, writes?: SqlWrites): Sql {
  return <Row extends Record<string, SqlStorageValue>>(
    strings: TemplateStringsArray,
    ...values: SqlStorageValue[]
  ): Row[] => {
    const cursor = storage.exec<Row>(strings.join("?"), ...values);
    const rows = cursor.toArray();
    if (writes && cursor.rowsWritten > 0) {
      writes.rows += cursor.rowsWritten;
      writes.bytes += boundBytes(values);
    }
    return rows;
  };
}
