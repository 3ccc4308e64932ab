// RFC 9457 problem+json with an EC2-style `code`: the one error envelope of the API.
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z } from "zod";

export function problem(
  c: Context,
  status: ContentfulStatusCode,
  code: string,
  detail: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Response {
  const body = { type: `https://hyperfleet.dev/errors/${code}`, title: code, status, code, detail, ...extra };
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
        fields.push(`${path}.${key}`);
        parts.push(`${path}.${key}: unknown field`);
      }
    } else {
      fields.push(path);
      parts.push(`${path}: ${issue.message}`);
    }
  }
  return { detail: parts.join("; "), fields };
}
