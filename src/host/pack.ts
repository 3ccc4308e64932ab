// Version 1 of the host store's memory pieces: a model snapshot (plain objects holding typed
// arrays) as JSON, each typed array as BLOB rows of at most 1 MiB (rows are capped at 2 MB),
// every piece rewritten whole. Version 2 (segments.ts) replaced it; schema.ts reads it to upgrade.
import { KINDS, type Kind, kindOf } from "./typed-arrays";

const CHUNK_BYTES = 1024 * 1024;

type AnyTypedArray = InstanceType<(typeof KINDS)[Kind]>;

interface BlobRef {
  $typed: Kind;
  chunks: number[];
  length: number;
}

export interface Packed {
  json: string;
  blobs: ArrayBuffer[];
}

export function pack(value: unknown): Packed {
  const blobs: ArrayBuffer[] = [];
  const json = JSON.stringify(value, function (this: unknown, key: string, v: unknown) {
    // JSON.stringify has already turned typed arrays into objects by now; read the original.
    const original = (this as Record<string, unknown>)[key];
    if (ArrayBuffer.isView(original) && !(original instanceof DataView)) {
      const bytes = new Uint8Array(original.buffer, original.byteOffset, original.byteLength);
      const chunks: number[] = [];
      for (let at = 0; at < bytes.length || chunks.length === 0; at += CHUNK_BYTES) {
        chunks.push(blobs.push(bytes.slice(at, at + CHUNK_BYTES).buffer) - 1);
      }
      const ref: BlobRef = { $typed: kindOf(original), chunks, length: (original as AnyTypedArray).length };
      return ref;
    }
    if (typeof v === "bigint") throw new TypeError("cannot store a bare bigint");
    return v;
  });
  return { json, blobs };
}

/** True for a piece's JSON in this format: it refers to its arrays as `$typed` blob lists. */
export function isPacked(json: string): boolean {
  return json.includes('"$typed":');
}

export function unpack<T>(packed: Packed): T {
  return JSON.parse(packed.json, (_key, v: unknown) => {
    if (v && typeof v === "object" && "$typed" in v) {
      const ref = v as BlobRef;
      const parts = ref.chunks.map((i) => new Uint8Array(packed.blobs[i]));
      const total = parts.reduce((n, p) => n + p.length, 0);
      const bytes = new Uint8Array(total);
      let at = 0;
      for (const p of parts) {
        bytes.set(p, at);
        at += p.length;
      }
      const Ctor = KINDS[ref.$typed];
      return new Ctor(bytes.buffer, 0, ref.length);
    }
    return v;
  }) as T;
}
