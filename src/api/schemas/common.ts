// Bounded building blocks of every request and response: ids, zones, names, tags, times.
// EC2's own limits where it has them (tagging and idempotency guides): tag keys up to 128
// characters, values up to 256, 50 tags per resource; client tokens up to 64 ASCII characters.
import { z } from "@hono/zod-openapi";
import {
  CLIENT_TOKEN_MAX_LENGTH,
  MAX_TAGS,
  RACK_MAX_LENGTH,
  RACK_PATTERN,
  TAG_KEY_MAX_LENGTH,
  TAG_VALUE_MAX_LENGTH,
  ZONE_MAX_LENGTH,
  ZONE_PATTERN,
} from "../../fleet/limits";

/** The JSON Schema zod derives for `s`, to describe a part the generator cannot see (map keys). */
export function jsonSchemaOf(s: z.ZodType): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(s, { io: "input" }) as Record<string, unknown>;
  return rest;
}

/** An EC2-style id: its prefix, a dash and 17 hex digits. */
export const idOf = (prefix: string, example: string) =>
  z
    .string()
    .max(prefix.length + 18)
    .regex(new RegExp(`^${prefix}-[0-9a-f]{17}$`), `must look like ${prefix}- followed by 17 hex digits`)
    .openapi({ example });

export const InstanceId = idOf("i", "i-0123456789abcdef0");
export const HostId = idOf("h", "h-0123456789abcdef0");
export const ReservationId = idOf("r", "r-0123456789abcdef0");

/** Events are named by a random UUID. */
export const EventId = z
  .string()
  .max(36)
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, "must be a UUID");

/** us-east-1a, eu-west-2c, us-gov-west-1a: region, then the zone's letter. */
export const Zone = z
  .string()
  .max(ZONE_MAX_LENGTH)
  .regex(ZONE_PATTERN, "must look like us-east-1a")
  .openapi({ example: "us-east-1a" });

export const Rack = z
  .string()
  .min(1)
  .max(RACK_MAX_LENGTH)
  .regex(RACK_PATTERN, "must be letters, digits and . _ : - (starting with a letter or digit)")
  .openapi({ example: "us-east-1a-rack-1" });

export const InstanceTypeName = z
  .string()
  .max(32)
  .regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, "must look like m5.large")
  .openapi({ example: "m5.large" });

export const ClientToken = z
  .string()
  .min(1)
  .max(CLIENT_TOKEN_MAX_LENGTH)
  .regex(/^[\x20-\x7e]+$/, "must be printable ASCII");

/** When a thing happened, as `Date.toISOString()` writes it (with the sign and six digits past 9999). */
export const Timestamp = z
  .string()
  .max(32)
  .regex(/^([+-]\d{6}|\d{4})-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, "must be an ISO 8601 UTC time")
  .openapi({ format: "date-time", example: "2026-01-01T00:00:00.000Z" });

/**
 * A string that is one of `values`, typed as a plain string: for answers read back from D1's
 * text columns, whose type is `string` though only these values are ever written.
 */
export function oneOf(values: readonly string[]) {
  const escaped = values.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  return z
    .string()
    .max(Math.max(...values.map((v) => v.length)))
    .regex(new RegExp(`^(${escaped.join("|")})$`), `must be one of ${values.join(", ")}`);
}

/**
 * A named schema, or null. Written as a union because the generator drops the null from
 * `.nullable()` on a schema it has already named (or folds it into an allOf).
 */
export const orNull = <S extends z.ZodType>(schema: S) => z.union([schema, z.null()]);

/** Words for people (a reason, a detail): bounded, with no pattern, since any words will do. */
export const text = (max: number) => z.string().max(max);

/** What a host runs: the instance types' hypervisors, or a hosted (Type 2) one for teaching. */
export const Hypervisor = z.enum(["nitro", "xen", "type2"]);

export const MAX_PAGE = 1000;
export const Limit = z.coerce.number().int().min(1).max(MAX_PAGE).default(100);

export { MAX_TAGS };
export const MAX_TAG_KEY = TAG_KEY_MAX_LENGTH;
export const MAX_TAG_VALUE = TAG_VALUE_MAX_LENGTH;
// biome-ignore lint/suspicious/noControlCharactersInRegex: keeping control characters out is its purpose
const TAG_KEY = /^(?![aA][wW][sS]:)[^\x00-\x1f\x7f]+$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: keeping control characters out is its purpose
const NO_CONTROL = /^[^\x00-\x1f\x7f]*$/;

export const TagKey = z
  .string()
  .min(1)
  .max(MAX_TAG_KEY)
  .regex(TAG_KEY, "must not start with aws: (reserved) nor hold control characters");
/** One line of text for people (a reason, an outcome): bounded, no control characters. */
export const oneLine = (max: number) => z.string().max(max).regex(NO_CONTROL, "one line of text");

export const TagValue = z.string().max(MAX_TAG_VALUE).regex(NO_CONTROL, "must not hold control characters");

/** A tag filter: a key, then `=` and a value, or the key alone for any value. */
export const TagFilter = z
  .string()
  .min(1)
  .max(MAX_TAG_KEY + 1 + MAX_TAG_VALUE)
  .regex(NO_CONTROL, "must not hold control characters");

const tagMapDoc = {
  maxProperties: MAX_TAGS,
  propertyNames: jsonSchemaOf(TagKey),
  description: `User tags: up to ${MAX_TAGS}, any key but aws:..., kept exactly as given (__proto__ included)`,
};

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Tags as a request gives them. zod's records drop a key named `__proto__` (they build
 * the result by assignment); read through a Map instead, every key is validated and kept,
 * and `Object.fromEntries` defines each as an own property.
 */
export const Tags = z
  .preprocess(
    (raw) => (isPlainObject(raw) ? new Map(Object.entries(raw)) : raw),
    z
      .map(TagKey, TagValue, { error: "must be an object of string keys and string values" })
      .max(MAX_TAGS, `at most ${MAX_TAGS} tags`),
  )
  .transform((m): Record<string, string> => Object.fromEntries(m))
  .openapi({ type: "object", additionalProperties: jsonSchemaOf(TagValue), ...tagMapDoc });

/** Tags as a response carries them. */
export const TagMap = z.record(TagKey, TagValue).openapi(tagMapDoc);
