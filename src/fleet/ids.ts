// EC2-shaped identifiers: a prefix and 17 lowercase hex digits.
export function newId(prefix: "i" | "r" | "h"): string {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${prefix}-${hex.slice(0, 17)}`;
}

export const ID_PATTERN = {
  instance: /^i-[0-9a-f]{17}$/,
  host: /^h-[0-9a-f]{17}$/,
};

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
