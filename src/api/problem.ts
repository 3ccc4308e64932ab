// RFC 9457 problem+json with an EC2-style `code`: the one error envelope of the API.
// Every body keeps to the Problem schema's bounds, however much input went wrong.
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z } from "zod";
import { MAX_DETAIL, MAX_FIELD_PATH, MAX_FIELDS, MAX_ZONES, ProblemExtras } from "./schemas/problem";

/** Issues the detail spells out one by one; the rest are counted. */
const MAX_LISTED_ISSUES = 10;

const clip = (s: string, max: number) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/** A path too long to name whole keeps its start and its (most specific) end. */
function clipPath(path: string): string {
  if (path.length <= MAX_FIELD_PATH) return path;
  const head = Math.floor((MAX_FIELD_PATH - 1) / 2);
  return `${path.slice(0, head)}…${path.slice(path.length - (MAX_FIELD_PATH - 1 - head))}`;
}

/** The documented members of `extra`, within their bounds; anything else is a bug, logged and left out. */
function documented(extra: Record<string, unknown>): Record<string, unknown> {
  const shape: Record<string, z.ZodType> = ProblemExtras.shape;
  const out: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(extra)) {
    let value = raw;
    if (key === "field" && typeof value === "string") value = clipPath(value);
    if (key === "fields" && Array.isArray(value))
      value = value.slice(0, MAX_FIELDS).map((f) => (typeof f === "string" ? clipPath(f) : f));
    if (key === "zonesWithCapacity" && Array.isArray(value)) value = value.slice(0, MAX_ZONES);
    const schema = Object.hasOwn(shape, key) ? shape[key] : undefined;
    if (schema?.safeParse(value).success) out[key] = value;
    else console.error("problem member outside the Problem schema left out", key);
  }
  return out;
}

export function problem(
  c: Context,
  status: ContentfulStatusCode,
  code: string,
  detail: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Response {
  const body = {
    type: `https://hyperfleet.dev/errors/${code}`,
    title: code,
    status,
    code,
    detail: clip(detail, MAX_DETAIL),
    ...documented(extra),
  };
  return c.body(JSON.stringify(body), status, { "content-type": "application/problem+json", ...headers });
}

/** Names every offending field: `body.maxCount: Too small...`, `body: unknown field 'foo'`. */
export function describeIssues(
  target: string,
  issues: readonly z.core.$ZodIssue[],
): { detail: string; fields: string[] } {
  const where = target === "json" ? "body" : target === "param" ? "path" : target;
  const parts: string[] = [];
  const fields: string[] = [];
  for (const issue of issues) {
    const path = [where, ...issue.path.map(String)].join(".");
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        fields.push(clipPath(`${path}.${key}`));
        parts.push(`${clipPath(`${path}.${key}`)}: unknown field`);
      }
    } else {
      fields.push(clipPath(path));
      parts.push(`${clipPath(path)}: ${issue.message}`);
    }
  }
  const more = parts.length - MAX_LISTED_ISSUES;
  const listed = parts.slice(0, MAX_LISTED_ISSUES).join("; ");
  return {
    detail: more > 0 ? `${listed}; and ${more} more` : listed,
    fields: [...new Set(fields)].slice(0, MAX_FIELDS),
  };
}
