// EC2's XML answers: `<ActionResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">`
// with a requestId, members in camelCase, lists as `<item>` elements in a `...Set`; errors
// as `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`
// (Amazon EC2 API Reference, "Query API responses" and "Error responses").
export const API_VERSION = "2016-11-15";
export const NAMESPACE = `http://ec2.amazonaws.com/doc/${API_VERSION}/`;

/** An element's content: text, a list of `<item>`s, members in order; null and undefined leave it out. */
export type Xml =
  | string
  | number
  | boolean
  | null
  | undefined
  | readonly Xml[]
  | { readonly [name: string]: Xml };

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
};

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ESCAPES[ch]);
}

function content(value: Xml): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return escapeXml(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return value.map((v) => `<item>${content(v)}</item>`).join("");
  return Object.entries(value as Record<string, Xml>)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `<${k}>${content(v)}</${k}>`)
    .join("");
}

const HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n';

export function responseXml(action: string, requestId: string, body: Record<string, Xml>): string {
  return `${HEAD}<${action}Response xmlns="${NAMESPACE}">${content({ requestId, ...body })}</${action}Response>`;
}

export function errorXml(code: string, message: string, requestId: string): string {
  return `${HEAD}<Response>${content({ Errors: { Error: { Code: code, Message: message } }, RequestID: requestId })}</Response>`;
}
