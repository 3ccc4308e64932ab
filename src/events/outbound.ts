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

function kindOfV6(host: string): Kind {
  const h = host.toLowerCase();
  if (h === "::1" || h === "0:0:0:0:0:0:0:1") return "loopback";
  if (h === "::" || h === "0:0:0:0:0:0:0:0") return "reserved";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  if (mapped) return kindOfV4(ipv4(mapped[1]) ?? [0, 0, 0, 0]) ?? null;
  const hexMapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(h);
  if (hexMapped) {
    const hi = Number.parseInt(hexMapped[1], 16);
    const lo = Number.parseInt(hexMapped[2], 16);
    return kindOfV4([hi >> 8, hi & 255, lo >> 8, lo & 255]);
  }
  if (h.startsWith("fd00:ec2:")) return "metadata";
  if (/^f[cd][0-9a-f]{0,2}:/.test(h)) return "private";
  if (/^fe[89ab][0-9a-f]?:/.test(h)) return "link-local";
  if (/^ff[0-9a-f]{0,2}:/.test(h)) return "reserved";
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
