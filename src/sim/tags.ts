// Changing a resource's tags as EC2's CreateTags and DeleteTags do: CreateTags adds keys or
// overwrites their values; DeleteTags removes a key, or removes it only when its value is
// the one given ("" included). Plain data in, plain data out.
export interface TagChange {
  set: Record<string, string>;
  /** A key, and the value it must have to go; null: whatever its value. */
  remove: [string, string | null][];
}

/** The tags after `change`; null when they would number more than `maxTags`. */
export function applyTagChange(
  tags: Readonly<Record<string, string>>,
  change: TagChange,
  maxTags: number,
): Record<string, string> | null {
  const next = new Map(Object.entries(tags));
  for (const [key, value] of Object.entries(change.set)) next.set(key, value);
  for (const [key, value] of change.remove) {
    if (next.has(key) && (value === null || next.get(key) === value)) next.delete(key);
  }
  if (next.size > maxTags && next.size > Object.keys(tags).length) return null;
  return Object.fromEntries(next);
}
