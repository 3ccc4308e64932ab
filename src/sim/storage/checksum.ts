// CRC-32C (Castagnoli), the checksum iSCSI, ext4 and NVMe end-to-end protection use for data blocks:
// polynomial 0x1EDC6F41, reflected (0x82F63B78), table-driven a byte at a time.

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export function crc32c(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** As the API shows it: eight lowercase hex digits. */
export function crc32cHex(data: Uint8Array): string {
  return crc32c(data).toString(16).padStart(8, "0");
}

/** A block of the volumes and the instance store: 4 KiB, as the API reads and writes them. */
export const BLOCK_BYTES = 4096;
