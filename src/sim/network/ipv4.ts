// IPv4 addresses and CIDR blocks as 32-bit unsigned numbers: parsing, containment, overlap.
// VPC and subnet sizes after the Amazon VPC user guide ("VPC CIDR blocks"): a block is a /16
// (65,536 addresses) to a /28 (16 addresses).

export const MIN_PREFIX = 16;
export const MAX_PREFIX = 28;

export interface Cidr {
  /** The block's first address (the network address). */
  base: number;
  prefix: number;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** "10.0.1.7" as a number, or null when it is not four decimal octets. */
export function parseIp(text: string): number | null {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) return null;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function formatIp(ip: number): string {
  return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join(".");
}

export const blockSize = (c: Cidr) => 2 ** (32 - c.prefix);

/**
 * "10.0.0.0/16" as a block; null when malformed. A block whose address has host bits set
 * (10.0.0.1/16) is refused, as EC2 refuses it, rather than silently rounded down.
 */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf("/");
  if (slash < 0) return null;
  const base = parseIp(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (base === null || !/^\d{1,2}$/.test(prefixText)) return null;
  const prefix = Number(prefixText);
  if (prefix > 32) return null;
  const c = { base, prefix };
  if (base % blockSize(c) !== 0) return null;
  return c;
}

export const formatCidr = (c: Cidr) => `${formatIp(c.base)}/${c.prefix}`;

export function contains(c: Cidr, ip: number): boolean {
  return ip >= c.base && ip < c.base + blockSize(c);
}

/** Whether `inner` lies wholly inside `outer`. */
export function within(inner: Cidr, outer: Cidr): boolean {
  return inner.prefix >= outer.prefix && contains(outer, inner.base);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base < b.base + blockSize(b) && b.base < a.base + blockSize(a);
}

/** A security-group rule's source: any block, /0 (everywhere) to /32 (one address). */
export function parseRuleCidr(text: string): Cidr | null {
  return parseCidr(text);
}
