import { drizzle } from "drizzle-orm/d1";
import { groupCommitting } from "./group-commit";
import * as schema from "./schema";

export type Db = ReturnType<typeof make>;

// Its batches go to D1 by group commit (group-commit.ts).
const make = (d1: D1Database) => drizzle(groupCommitting(d1), { schema });

// Building a drizzle client walks the whole schema (its relational config), which cost a
// launch more than its own queries' SQL did: one client per binding, made once.
const clients = new WeakMap<D1Database, Db>();

export function database(d1: D1Database): Db {
  let db = clients.get(d1);
  if (!db) {
    db = make(d1);
    clients.set(d1, db);
  }
  return db;
}
