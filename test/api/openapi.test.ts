// The OpenAPI document as clients read it: a client generated from it (openapi-typescript)
// has a real type for every answer, and every string, array and map in it is bounded.
import type { z } from "@hono/zod-openapi";
import openapiTS, { astToString } from "openapi-typescript";
import ts from "typescript";
import { beforeAll, describe, expect, it } from "vitest";
import { app } from "../../src/api/app";
import * as api from "../../src/api/schemas";

type Schema = { [key: string]: unknown };
interface Document {
  openapi: string;
  paths: Record<string, Record<string, Schema>>;
  components: { schemas: Record<string, Schema> };
}

/** User maps, open by nature: each is bounded (maxProperties, propertyNames) and allowed by name. */
const USER_MAPS = new Set(["tags"]);

/** Strings that are words for people or echo the caller's own field names: bounded, no pattern. */
const FREE_TEXT = new Set([
  "Problem.detail",
  "Problem.field",
  "Problem.fields[]",
  "Instance.stateTransitionReason",
  "Mismatch.detail",
  "StorageMismatch.detail",
  "UnreleasedHost.message",
]);

let doc: Document;

const typesOf = (s: Schema): string[] => (Array.isArray(s.type) ? s.type : s.type ? [s.type as string] : []);

beforeAll(async () => {
  const res = await app.request("/openapi.json");
  expect(res.status).toBe(200);
  doc = (await res.json()) as Document;
});

// ---- the generated client ----

/** Where a generated type is open: an index signature, `unknown`/`any`, or `Record<string, never>`. */
function openTypes(nodes: ts.Node[]): string[] {
  const found: string[] = [];
  const visit = (node: ts.Node, path: string[]) => {
    const here = ts.isPropertySignature(node) ? [...path, node.name.getText()] : path;
    const owner = here[here.length - 1]?.replace(/^"|"$/g, "");
    // openapi-typescript's own scaffolding: response headers it was not told about.
    const scaffold = owner === "headers";
    if (ts.isIndexSignatureDeclaration(node) && !scaffold && !USER_MAPS.has(owner ?? "")) {
      found.push(`${here.join(".")}: [key: string]`);
    }
    if ((node.kind === ts.SyntaxKind.UnknownKeyword || node.kind === ts.SyntaxKind.AnyKeyword) && !scaffold) {
      found.push(`${here.join(".")}: ${node.getText()}`);
    }
    if (ts.isTypeReferenceNode(node) && node.getText() === "Record<string, never>" && here.length > 0) {
      found.push(`${here.join(".")}: {}`);
    }
    ts.forEachChild(node, (child) => visit(child, here));
  };
  // Printed and parsed again, so that every node has its text.
  const file = ts.createSourceFile("client.ts", astToString(nodes), ts.ScriptTarget.Latest, true);
  for (const statement of file.statements) visit(statement, []);
  return found;
}

describe("a client generated from /openapi.json", () => {
  it("types every request and answer with named, closed types (tags the only maps)", async () => {
    const nodes = await openapiTS(doc as never);
    const client = astToString(nodes);
    for (const name of [
      "Translation",
      "VmMemorySummary",
      "HostMemorySummary",
      "CpuCounters",
      "Recommendation",
    ]) {
      expect(client).toContain(`${name}: {`);
    }
    expect(openTypes(nodes)).toEqual([]);
  });

  it("would see an open record, an unknown and an empty object for what they are", async () => {
    const open: Document = structuredClone(doc);
    open.components.schemas.Loose = {
      type: "object",
      properties: {
        counts: { type: "object", additionalProperties: { type: "number" } },
        anything: {},
        empty: { type: "object" },
        tags: { type: "object", additionalProperties: { type: "string" } },
      },
    };
    const found = openTypes(await openapiTS(open as never));
    expect(found).toEqual([
      expect.stringMatching(/Loose\.counts: \[key: string\]$/),
      expect.stringMatching(/Loose\.anything\??: unknown$/),
      expect.stringMatching(/Loose\.empty\??: \{\}$/),
    ]);
  });
});

// ---- null where the schemas allow it ----

const admitsNull = (s: Schema | undefined): boolean =>
  !!s &&
  (typesOf(s).includes("null") ||
    (Array.isArray(s.enum) && s.enum.includes(null)) ||
    ["anyOf", "oneOf"].some((k) => ((s[k] ?? []) as Schema[]).some(admitsNull)));

const isObjectSchema = (s: unknown): s is z.ZodObject =>
  typeof s === "object" && s !== null && "_zod" in s && (s as z.ZodType)._zod.def.type === "object";

describe("null in /openapi.json", () => {
  it("is allowed wherever the schema accepts it, named schemas included", () => {
    const lost: string[] = [];
    const checked = new Set<string>();
    // Components whose schema is exported under the same name.
    for (const [name, component] of Object.entries(doc.components.schemas)) {
      const schema = (api as Record<string, unknown>)[name];
      if (!isObjectSchema(schema) || !component?.properties) continue;
      checked.add(name);
      const props = component.properties as Record<string, Schema>;
      for (const [key, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
        if (field.safeParse(null).success && !admitsNull(props[key])) lost.push(`${name}.${key}`);
      }
    }
    expect(lost).toEqual([]);
    for (const name of ["Translation", "Walk", "GuestLevelStep", "Instance", "Event"])
      expect([...checked]).toContain(name);
  });
});

// ---- bounds on every input and output ----

/** Every schema node with a readable path, components and inline ones alike ($refs are visited once, by name). */
function* schemas(root: Document): Generator<[string, Schema]> {
  function* walk(path: string, s: unknown): Generator<[string, Schema]> {
    if (!s || typeof s !== "object" || "$ref" in s) return;
    const node = s as Schema;
    yield [path, node];
    const props = (node.properties ?? {}) as Record<string, unknown>;
    for (const [k, v] of Object.entries(props)) yield* walk(`${path}.${k}`, v);
    if (node.items) yield* walk(`${path}[]`, node.items);
    if (node.additionalProperties && typeof node.additionalProperties === "object")
      yield* walk(`${path}{}`, node.additionalProperties);
    if (node.propertyNames) yield* walk(`${path}{key}`, node.propertyNames);
    for (const k of ["anyOf", "oneOf", "allOf"])
      for (const [i, v] of ((node[k] ?? []) as unknown[]).entries()) yield* walk(`${path}|${i}`, v);
  }
  for (const [name, s] of Object.entries(root.components.schemas)) yield* walk(name, s);
  for (const [route, ops] of Object.entries(root.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const where = `${method.toUpperCase()} ${route}`;
      for (const p of (op.parameters ?? []) as { name: string; in: string; schema: Schema }[])
        yield* walk(`${where} ${p.in}.${p.name}`, p.schema);
      const body = op.requestBody as { content?: Record<string, { schema: Schema }> } | undefined;
      for (const [type, media] of Object.entries(body?.content ?? {}))
        yield* walk(`${where} body ${type}`, media.schema);
      for (const [status, res] of Object.entries((op.responses ?? {}) as Record<string, Schema>)) {
        const content = (res.content ?? {}) as Record<string, { schema: Schema }>;
        for (const [type, media] of Object.entries(content))
          yield* walk(`${where} ${status} ${type}`, media.schema);
      }
    }
  }
}

const closedSet = (s: Schema) => Array.isArray(s.enum) || "const" in s;

/** What is unbounded or undescribed in a document, one line per place. */
function unbounded(root: Document): string[] {
  const found: string[] = [];
  for (const [path, s] of schemas(root)) {
    const types = typesOf(s);
    const composed = ["anyOf", "oneOf", "allOf"].some((k) => k in s);
    if (types.length === 0 && !composed && !closedSet(s)) found.push(`${path}: no type`);
    if (types.includes("string") && !closedSet(s)) {
      if (typeof s.maxLength !== "number") found.push(`${path}: string without maxLength`);
      if (!s.pattern && !s.format && !FREE_TEXT.has(path)) found.push(`${path}: string without pattern`);
    }
    if (types.includes("array") && typeof s.maxItems !== "number")
      found.push(`${path}: array without maxItems`);
    if (types.includes("object")) {
      const map = s.additionalProperties !== undefined && s.additionalProperties !== false;
      const name = path.split(/[.\s]/).pop() ?? "";
      if (map && !USER_MAPS.has(name)) found.push(`${path}: open map`);
      if (map && typeof s.maxProperties !== "number") found.push(`${path}: map without maxProperties`);
      if (map && typeof (s.propertyNames as Schema | undefined)?.maxLength !== "number")
        found.push(`${path}: map keys without maxLength`);
      if (!map && !s.properties) found.push(`${path}: object without properties`);
    }
  }
  return found;
}

describe("the bounds in /openapi.json", () => {
  it("give every string a maxLength and (words for people aside) a pattern, every array a maxItems, every map a maxProperties", () => {
    expect(unbounded(doc)).toEqual([]);
  });

  it("put a pattern on ids, zones, instance types, client tokens, tag keys and cursors", () => {
    const s = doc.components.schemas;
    const prop = (name: string, p: string) => (s[name].properties as Record<string, Schema>)[p];
    const param = (route: string, name: string) =>
      ((doc.paths[route].get.parameters ?? []) as { name: string; schema: Schema }[]).find(
        (q) => q.name === name,
      )?.schema;
    const matches = (schema: Schema | undefined, ok: string[], bad: string[]) => {
      const re = new RegExp(String(schema?.pattern));
      for (const v of ok) expect(re.test(v), v).toBe(true);
      for (const v of bad) expect(re.test(v), v).toBe(false);
      expect(Math.max(...ok.map((v) => v.length))).toBeLessThanOrEqual(Number(schema?.maxLength));
    };
    matches(prop("Instance", "instanceId"), ["i-0123456789abcdef0"], ["i-123", "h-0123456789abcdef0"]);
    matches(prop("Host", "hostId"), ["h-0123456789abcdef0"], ["h-0123456789ABCDEF0"]);
    matches(
      prop("CreateHost", "availabilityZone"),
      ["us-east-1a", "us-gov-west-1a", "eu-west-2c"],
      ["moon", "us-east-1"],
    );
    matches(prop("RunInstances", "instanceType"), ["m5.large", "c5d.24xlarge"], ["m5", "M5.large"]);
    matches(prop("RunInstances", "clientToken"), ["tok-1", "x".repeat(64)], ["tök", ""]);
    matches(param("/v1/instances", "cursor"), ["i-0123456789abcdef0"], ["anything"]);
    matches(param("/v1/hosts", "cursor"), ["h-0123456789abcdef0"], ["anything"]);
    const tags = prop("RunInstances", "tags");
    expect(tags.maxProperties).toBe(50);
    matches(tags.propertyNames as Schema, ["app", "__proto__", 'a"b', "k".repeat(128)], ["aws:x", "a\nb"]);
    expect((tags.additionalProperties as Schema).maxLength).toBe(256);
  });

  it("would find an unbounded string, array and map and an untyped value", () => {
    const loose: Document = structuredClone(doc);
    loose.components.schemas.Loose = {
      type: "object",
      properties: {
        name: { type: "string" },
        list: { type: "array", items: { type: "number" } },
        counts: { type: "object", additionalProperties: { type: "number" } },
        anything: {},
      },
    };
    expect(unbounded(loose)).toEqual([
      "Loose.name: string without maxLength",
      "Loose.name: string without pattern",
      "Loose.list: array without maxItems",
      "Loose.counts: open map",
      "Loose.counts: map without maxProperties",
      "Loose.counts: map keys without maxLength",
      "Loose.anything: no type",
    ]);
  });
});
