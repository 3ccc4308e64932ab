// Where webhooks may go: http(s) only, and never to loopback, private, link-local, carrier
// NAT, multicast or cloud metadata addresses (RFC 6890's special-purpose registries; EC2's
// instance metadata at 169.254.169.254 and fd00:ec2::254), so that a subscription cannot
// make the fleet call into its own network. A deployment that sets WEBHOOK_ALLOW_LOOPBACK
// = "true" (`npm start` does, for a receiver on the developer's machine) may reach loopback
// alone. The Workers runtime resolves names only as it connects, so a name is checked by its
// spelling here; Cloudflare's egress does not route to private addresses in any case.

export type Refusal = { refused: true; reason: string } | { refused: false };

const METADATA_NAMES = new Set([
  "metadata.google.internal",
  "metadata",
  "instance-data",
  "instance-data.ec2.internal",
]);

function ipv4(host: string): number[] | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : null;
}

type Kind = "loopback" | "private" | "link-local" | "metadata" | "reserved" | null;

function kindOfV4([a, b, c, d]: number[]): Kind {
  if (a === 127) return "loopback";
  if (a === 169 && b === 254 && c === 169 && d === 254) return "metadata";
  if (a === 169 && b === 254) return "link-local";
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return "private";
  if (a === 100 && b >= 64 && b <= 127) return "private";
  if (a === 0 || a >= 224 || (a === 192 && b === 0 && c === 0) || (a === 198 && (b === 18 || b === 19))) {
    return "reserved";
  }
  return null;
}

/** An IPv6 address as its eight 16-bit groups, an embedded dotted IPv4 tail included; null if it is not one. */
function ipv6Groups(host: string): number[] | null {
  let h = host.replace(/%.*$/, "");
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  if (dotted) {
    const v4 = ipv4(dotted[2]);
    if (!v4) return null;
    h = `${dotted[1]}${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}`;
  }
  const halves = h.split("::");
  if (halves.length > 2) return null;
  const part = (s: string) => (s === "" ? [] : s.split(":"));
  const head = part(halves[0]);
  const tail = halves.length === 2 ? part(halves[1]) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return null;
  return groups.map((g) => Number.parseInt(g, 16));
}

const v4Of = (hi: number, lo: number) => [hi >> 8, hi & 255, lo >> 8, lo & 255];

/**
 * An IPv6 address's kind, seeing through every spelling that carries an IPv4 address (RFC 4291
 * IPv4-compatible ::a.b.c.d and IPv4-mapped ::ffff:a.b.c.d, RFC 2765's ::ffff:0:a.b.c.d, RFC 6052's
 * NAT64 64:ff9b::/96, RFC 3056's 6to4 2002::/16): each is judged as the IPv4 address it reaches.
 */
function kindOfV6(host: string): Kind {
  const g = ipv6Groups(host.toLowerCase());
  if (!g) return "reserved";
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zeros(0, 8)) return "reserved";
  if (zeros(0, 7) && g[7] === 1) return "loopback";
  // ::a.b.c.d (deprecated: refused whatever it holds), ::ffff:a.b.c.d and ::ffff:0:a.b.c.d.
  if (zeros(0, 6)) return kindOfV4(v4Of(g[6], g[7])) ?? "reserved";
  if (zeros(0, 5) && g[5] === 0xffff) return kindOfV4(v4Of(g[6], g[7]));
  if (zeros(0, 4) && g[4] === 0xffff && g[5] === 0) return kindOfV4(v4Of(g[6], g[7]));
  // NAT64's well-known prefix reaches the IPv4 address in its last 32 bits; the local-use one (RFC 8215,
  // 64:ff9b:1::/48) reaches whatever the operator's translator does.
  if (g[0] === 0x64 && g[1] === 0xff9b) {
    if (zeros(2, 6)) return kindOfV4(v4Of(g[6], g[7]));
    return g[2] === 1 ? "private" : "reserved";
  }
  if (g[0] === 0x2002) return kindOfV4(v4Of(g[1], g[2]));
  if (g[0] === 0xfd00 && g[1] === 0xec2) return "metadata";
  if ((g[0] & 0xfe00) === 0xfc00) return "private";
  if ((g[0] & 0xffc0) === 0xfe80) return "link-local";
  // Site-local (deprecated, RFC 3879), multicast, documentation (2001:db8::/32) and Teredo (2001::/32).
  if ((g[0] & 0xffc0) === 0xfec0 || (g[0] & 0xff00) === 0xff00) return "reserved";
  if (g[0] === 0x2001 && (g[1] === 0xdb8 || g[1] === 0)) return "reserved";
  return null;
}

function kindOfHost(hostname: string): Kind {
  const host = hostname
    .replace(/^\[|\]$/g, "")
    .replace(/\.$/, "")
    .toLowerCase();
  if (host === "localhost" || host.endsWith(".localhost")) return "loopback";
  if (METADATA_NAMES.has(host)) return "metadata";
  if (host.includes(":")) return kindOfV6(host);
  const v4 = ipv4(host);
  if (v4) return kindOfV4(v4);
  // Other spellings of an IPv4 address (decimal, octal, hex: 2130706433, 0x7f.1) are refused outright.
  if (/^[0-9.]+$/.test(host) || /^0x[0-9a-f.x]+$/i.test(host)) return "reserved";
  return null;
}

/** Why `url` may not receive webhooks, or that it may. */
export function checkOutbound(url: string, allowLoopback: boolean): Refusal {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { refused: true, reason: "must be an absolute URL" };
  }
  if (u.protocol !== "https:" && u.protocol !== "http:")
    return { refused: true, reason: "must be http or https" };
  if (u.username || u.password) return { refused: true, reason: "must not carry credentials" };
  const kind = kindOfHost(u.hostname);
  if (kind === null || (kind === "loopback" && allowLoopback)) return { refused: false };
  const hint =
    kind === "loopback" ? " (a local deployment may allow loopback with WEBHOOK_ALLOW_LOOPBACK=true)" : "";
  return { refused: true, reason: `refers to a ${kind} address, which webhooks may not reach${hint}` };
}

export const allowsLoopback = (env: Env) => env.WEBHOOK_ALLOW_LOOPBACK === "true";
