// Compile-time proofs that a schema documents exactly what the model or a service produces:
// `npm run typecheck` fails when a field is added to, dropped from or retyped on either side.
import { z } from "@hono/zod-openapi";

/** T with intersections merged and readonly dropped, at every depth, so equal shapes compare equal. */
type Normal<T> = T extends readonly (infer E)[]
  ? Normal<E>[]
  : T extends object
    ? { -readonly [K in keyof T]: Normal<T[K]> }
    : T;

/** True only when A and B are the same type (identity, not mutual assignability: optional fields count). */
export type Same<A, B> =
  (<T>() => T extends Normal<A> ? 1 : 2) extends <T>() => T extends Normal<B> ? 1 : 2 ? true : false;

/** Compiles only when its argument is `true`. */
export type Assert<T extends true> = T;

/** The schema's output is exactly the model's type T. */
export type Mirrors<S extends z.ZodType, T> = Same<z.output<S>, T>;

/** The fields of T at every depth with the leaf types erased: what a response and its schema must share. */
export type Fields<T> = T extends readonly (infer E)[]
  ? Fields<E>[]
  : T extends object
    ? { -readonly [K in keyof T]: Fields<T[K]> }
    : "leaf";

/** Same fields, at every depth, as the service's answer (the handler's typing checks the values). */
export type Documents<S extends z.ZodType, T> = Same<Fields<z.output<S>>, Fields<T>>;

/**
 * An object with exactly the keys of a fixed list (exit reasons, hypercalls, switches), each
 * with the same schema: a closed object in the document, not an open map.
 */
export function keyed<const K extends readonly string[], V extends z.ZodType>(keys: K, value: V) {
  return z.object(Object.fromEntries(keys.map((k) => [k, value])) as { [P in K[number]]: V });
}
