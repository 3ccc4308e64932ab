// A small typed helper over a Durable Object's SQLite, after cloudflare/agents: a tagged
// template whose interpolations are bound as parameters, never spliced into the SQL text.

export type Sql = <Row extends Record<string, SqlStorageValue> = Record<string, SqlStorageValue>>(
  strings: TemplateStringsArray,
  ...values: SqlStorageValue[]
) => Row[];

/** `sql\`SELECT body FROM vms WHERE instance_id = ${id}\`` runs with `id` as a bound value. */
export function sqlOver(storage: SqlStorage): Sql {
  return <Row extends Record<string, SqlStorageValue>>(
    strings: TemplateStringsArray,
    ...values: SqlStorageValue[]
  ): Row[] => storage.exec<Row>(strings.join("?"), ...values).toArray();
}
