// The typed arrays the host store can write, by constructor name: both store layouts
// (segments.ts, and pack.ts for the version it upgrades from) name an array's kind this way.
export const KINDS = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
} as const;
export type Kind = keyof typeof KINDS;

export function kindOf(v: ArrayBufferView): Kind {
  const name = v.constructor.name;
  if (!(name in KINDS)) throw new TypeError(`cannot store a ${name}`);
  return name as Kind;
}
