// The OpenAPI document as the tests read it: its operations, and the smallest body or
// parameter value a schema accepts, so that tests generated from the document reach each
// operation's service rather than its validation.
export type Schema = {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  enum?: unknown[];
  const?: unknown;
  example?: unknown;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  minimum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
};

export interface Operation {
  "x-access": string;
  parameters?: { name: string; in: string; required?: boolean; schema: Schema }[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> };
}

export interface Doc {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

export const METHODS = ["get", "put", "post", "delete", "patch"];

/** Every operation of the document, as method (upper case), path and its description. */
export function operations(doc: Doc): { method: string; path: string; op: Operation }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((m) => ({ method: m.toUpperCase(), path, op: item[m] })),
  );
}

/** The smallest value the schema accepts: required fields only, each its example or first value. */
export function sample(schema: Schema, doc: Doc): unknown {
  if (schema.$ref) return sample(doc.components.schemas[schema.$ref.split("/").pop() ?? ""], doc);
  if (schema.example !== undefined) return schema.example;
  if (schema.const !== undefined) return schema.const;
  if (schema.enum) return schema.enum[0];
  const options = schema.anyOf ?? schema.oneOf;
  if (options) return sample(options[0], doc);
  if (schema.allOf) return Object.assign({}, ...schema.allOf.map((s) => sample(s, doc)));
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  switch (type) {
    case "object":
      return Object.fromEntries(
        (schema.required ?? []).map((k) => [k, sample(schema.properties?.[k] ?? {}, doc)]),
      );
    case "string":
      return "x".repeat(Math.max(1, schema.minLength ?? 1));
    case "number":
    case "integer":
      return schema.minimum ?? (schema.exclusiveMinimum ?? 0) + 1;
    case "boolean":
      return false;
    case "array":
      return [];
    default:
      return null;
  }
}

/** The schema itself where it is a reference to a component. */
export function resolve(schema: Schema, doc: Doc): Schema {
  return schema.$ref ? resolve(doc.components.schemas[schema.$ref.split("/").pop() ?? ""], doc) : schema;
}

/** The JSON body schema of an operation, if it takes one. */
export const bodySchema = (op: Operation): Schema | undefined =>
  op.requestBody?.content["application/json"]?.schema;
