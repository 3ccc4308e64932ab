// The EC2 Query protocol's parameters: a form-encoded body of `Name=value` pairs, lists as
// `Name.1`, `Name.2`..., structures as `Name.1.Member`, filters as `Filter.N.Name` with
// `Filter.N.Value.M` (Amazon EC2 API Reference, "Query requests", "Filtering"). Every
// parameter an action reads is marked; one it did not read is UnknownParameter, checked
// before the action changes anything.
import {
  MAX_FILTER_VALUES,
  MAX_QUERY_FILTERS,
  MAX_QUERY_LIST,
  MAX_QUERY_PARAMS,
  QUERY_MAX_RESULTS,
  QUERY_MIN_RESULTS,
} from "../../fleet/limits";

/** An error as EC2 reports it: its code, message and HTTP status. */
export class QueryError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: 400 | 401 | 403 | 412 | 500 | 503 = 400,
  ) {
    super(message);
  }
}

export const invalidValue = (name: string, message: string) =>
  new QueryError("InvalidParameterValue", `Value for parameter ${name} is invalid: ${message}`);

export const unsupported = (what: string, why: string) =>
  new QueryError("UnsupportedOperation", `${what} is not supported: ${why}`);

/** The parameters the protocol itself uses, read by the endpoint, not the action. */
const PROTOCOL = new Set(["Action", "Version"]);

export class QueryParams {
  private readonly read = new Set<string>();

  private constructor(private readonly values: Map<string, string>) {}

  /** The parameters of a form-encoded body; MalformedQueryString if one is given twice. */
  static parse(body: string): QueryParams {
    const values = new Map<string, string>();
    let n = 0;
    for (const [key, value] of new URLSearchParams(body)) {
      if (++n > MAX_QUERY_PARAMS) {
        throw new QueryError(
          "InvalidParameterCombination",
          `A request may carry at most ${MAX_QUERY_PARAMS} parameters`,
        );
      }
      if (values.has(key))
        throw new QueryError("MalformedQueryString", `The parameter ${key} is given more than once`);
      values.set(key, value);
    }
    return new QueryParams(values);
  }

  protocol(name: "Action" | "Version"): string | undefined {
    return this.values.get(name);
  }

  string(name: string): string | undefined {
    this.read.add(name);
    return this.values.get(name);
  }

  required(name: string): string {
    const v = this.string(name);
    if (v === undefined || v === "") {
      throw new QueryError("MissingParameter", `The request must contain the parameter ${name}`);
    }
    return v;
  }

  int(name: string, min: number, max: number): number | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    if (!/^-?\d{1,10}$/.test(v) || +v < min || +v > max) {
      throw invalidValue(name, `'${v.slice(0, 32)}' is not an integer from ${min} to ${max}`);
    }
    return +v;
  }

  bool(name: string): boolean | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    if (v !== "true" && v !== "false") throw invalidValue(name, `'${v.slice(0, 32)}' is not true or false`);
    return v === "true";
  }

  /** The indexes N of `prefix.N...` present, in order; at most `max` of them. */
  private indexes(prefix: string, max: number): number[] {
    const found = new Set<number>();
    const head = `${prefix}.`;
    for (const key of this.values.keys()) {
      if (!key.startsWith(head)) continue;
      const m = /^(\d{1,6})(\.|$)/.exec(key.slice(head.length));
      if (!m || +m[1] < 1) throw invalidValue(key, `lists are numbered from ${prefix}.1`);
      found.add(+m[1]);
    }
    if (found.size > max) throw invalidValue(prefix, `at most ${max} items`);
    return [...found].sort((a, b) => a - b);
  }

  /** `prefix.1`, `prefix.2`...: a list of strings. */
  list(prefix: string, max = MAX_QUERY_LIST): string[] {
    return this.indexes(prefix, max).map((n) => this.required(`${prefix}.${n}`));
  }

  /** `prefix.N.*`: a list of structures, each read by `item` from its own prefix. */
  structs<T>(prefix: string, item: (p: string) => T, max = MAX_QUERY_LIST): T[] {
    return this.indexes(prefix, max).map((n) => item(`${prefix}.${n}`));
  }

  /** `Filter.N.Name` and `Filter.N.Value.M`, each name once, from the names the action knows. */
  filters(known: (name: string) => boolean): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const f of this.structs(
      "Filter",
      (p) => ({ name: this.required(`${p}.Name`), values: this.list(`${p}.Value`, MAX_FILTER_VALUES) }),
      MAX_QUERY_FILTERS,
    )) {
      if (!known(f.name))
        throw new QueryError("InvalidParameterValue", `The filter '${f.name.slice(0, 128)}' is invalid`);
      if (f.values.length === 0) throw invalidValue(`Filter ${f.name}`, "a filter needs at least one Value");
      out.set(f.name, [...(out.get(f.name) ?? []), ...f.values]);
    }
    return out;
  }

  /** `Tag.N.Key` and `Tag.N.Value` (or `Tag.N.Value` absent: null), as CreateTags and DeleteTags take them. */
  tags(prefix: string, max: number): { key: string; value: string | null }[] {
    return this.structs(
      prefix,
      (p) => ({ key: this.required(`${p}.Key`), value: this.string(`${p}.Value`) ?? null }),
      max,
    );
  }

  /** MaxResults and NextToken; `min` to `max` per page as EC2's list actions take them. */
  paging(
    min = QUERY_MIN_RESULTS,
    max = QUERY_MAX_RESULTS,
  ): { maxResults: number | undefined; nextToken: string | undefined } {
    return { maxResults: this.int("MaxResults", min, max), nextToken: this.string("NextToken") };
  }

  /** UnknownParameter for anything the action did not read: nothing has changed yet. */
  done(): void {
    for (const key of this.values.keys()) {
      if (!PROTOCOL.has(key) && !this.read.has(key)) {
        throw new QueryError("UnknownParameter", `The parameter ${key.slice(0, 128)} is not recognized`);
      }
    }
  }
}
