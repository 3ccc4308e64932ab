// Incremental snapshots, as EBS takes them: the first stores every block the volume has written, each
// later one only the blocks written since the one before, and a restore reads each block from the
// newest snapshot of the chain that holds it (blocks no snapshot holds read as zeros). A volume made
// from a snapshot starts its own chain on that one: its first snapshot stores only what it wrote.

/** A block as a copy holds it: its number, the write that made it (a per-volume sequence) and its CRC-32C. */
export interface BlockVersion {
  n: number;
  seq: number;
  checksum: string;
}

/** Which write a block's content came from, across volumes: the volume and its write sequence. */
export const versionTag = (volumeId: string, seq: number) => `${volumeId}:${seq}`;

/** The blocks of `current` (tagged by versionTag) that the chain's newest versions do not already hold. */
export function changedBlocks<B extends { n: number; tag: string }>(
  current: readonly B[],
  previous: ReadonlyMap<number, string>,
): B[] {
  return current.filter((b) => previous.get(b.n) !== b.tag);
}

/**
 * The newest version of every block of a chain, given each snapshot's own blocks from the oldest to the
 * newest: what the newest snapshot restores to.
 */
export function resolveChain<B extends { n: number }>(chain: readonly (readonly B[])[]): Map<number, B> {
  const out = new Map<number, B>();
  for (const blocks of chain) for (const b of blocks) out.set(b.n, b);
  return out;
}
