// A memory piece as the store wrote it before small arrays were packed: the image's JSON with each
// typed array as a reference, and every array in segments of its own, all of them written.
import { SEGMENT_BYTES, type StoredSegment } from "../../../src/host/segments";

export function legacyPiece(image: unknown): { json: string; segments: StoredSegment[] } {
  const segments: StoredSegment[] = [];
  const walk = (v: unknown, path: string): unknown => {
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
      const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      for (let idx = 0; idx * SEGMENT_BYTES < bytes.length; idx++) {
        const data = bytes.slice(idx * SEGMENT_BYTES, (idx + 1) * SEGMENT_BYTES).buffer;
        segments.push({ field: path, idx, data });
      }
      return { $seg: v.constructor.name, field: path };
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}.${i}`));
    if (v !== null && typeof v === "object") {
      return Object.fromEntries(
        Object.entries(v).map(([k, x]) => [k, walk(x, path === "" ? k : `${path}.${k}`)]),
      );
    }
    return v;
  };
  return { json: JSON.stringify(walk(image, "")), segments };
}
