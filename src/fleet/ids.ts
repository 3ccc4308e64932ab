// EC2-shaped identifiers: a prefix and 17 lowercase hex digits.
export function newId(
  prefix:
    | "i"
    | "r"
    | "h"
    | "key"
    | "sub"
    | "alarm"
    | NetworkIdPrefix
    | "vol"
    | "snap"
    | "sn"
    | "fs"
    | "fsmt"
    | "fh"
    | "mig"
    | "evac"
    | "instance-event",
): string {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${prefix}-${hex.slice(0, 17)}`;
}

/** The network's resources, named as EC2 names them. */
export type NetworkIdPrefix = "vpc" | "subnet" | "eni" | "sg" | "sgr" | "pcx" | "acl" | "aclassoc" | "pg";

export const ID_PATTERN = {
  instance: /^i-[0-9a-f]{17}$/,
  host: /^h-[0-9a-f]{17}$/,
  key: /^key-[0-9a-f]{17}$/,
  subscription: /^sub-[0-9a-f]{17}$/,
  alarm: /^alarm-[0-9a-f]{17}$/,
  migration: /^mig-[0-9a-f]{17}$/,
  evacuation: /^evac-[0-9a-f]{17}$/,
  account: /^[0-9]{12}$/,
  volume: /^vol-[0-9a-f]{17}$/,
  snapshot: /^snap-[0-9a-f]{17}$/,
  storageNode: /^sn-[0-9a-f]{17}$/,
  filesystem: /^fs-[0-9a-f]{17}$/,
};

/** An EC2-style account id: 12 decimal digits, each drawn without bias. */
export function newAccountId(): string {
  let id = "";
  while (id.length < 12) {
    for (const b of crypto.getRandomValues(new Uint8Array(16))) {
      // 250 is the largest multiple of 10 a byte holds: bytes above it would favour 0-5.
      if (b < 250 && id.length < 12) id += String(b % 10);
    }
  }
  return id;
}

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
