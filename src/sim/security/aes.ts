// AES-128 (FIPS 197) and the XTS mode of IEEE 1619 over it, synchronous so the pure models can
// encrypt guest memory inside one host call. AMD SEV encrypts memory with AES-128 and a tweak from
// the physical address (AMD, "AMD Memory Encryption" white paper, 2016); XTS with the frame number
// as its tweak is the standard mode with that property: the same plaintext at two addresses, or
// under two keys, gives unrelated ciphertext. Checked against FIPS 197's vector and WebCrypto.

const SBOX = new Uint8Array(256);
const INV_SBOX = new Uint8Array(256);

/** Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1. */
function gmul(a: number, b: number): number {
  let p = 0;
  for (let i = 0; i < 8; i++) {
    if (b & 1) p ^= a;
    const hi = a & 0x80;
    a = (a << 1) & 0xff;
    if (hi) a ^= 0x1b;
    b >>= 1;
  }
  return p;
}

// The S-box from its definition (FIPS 197 §5.1.1): the multiplicative inverse, then the affine map.
{
  const inv = new Uint8Array(256);
  for (let a = 1; a < 256; a++) {
    for (let b = 1; b < 256; b++) {
      if (gmul(a, b) === 1) {
        inv[a] = b;
        break;
      }
    }
  }
  for (let x = 0; x < 256; x++) {
    const b = inv[x];
    let s = b;
    for (let r = 1; r <= 4; r++) s ^= ((b << r) | (b >> (8 - r))) & 0xff;
    s ^= 0x63;
    SBOX[x] = s;
    INV_SBOX[s] = x;
  }
}

const MUL2 = Uint8Array.from({ length: 256 }, (_, i) => gmul(i, 2));
const MUL3 = Uint8Array.from({ length: 256 }, (_, i) => gmul(i, 3));
const MUL9 = Uint8Array.from({ length: 256 }, (_, i) => gmul(i, 9));
const MUL11 = Uint8Array.from({ length: 256 }, (_, i) => gmul(i, 11));
const MUL13 = Uint8Array.from({ length: 256 }, (_, i) => gmul(i, 13));
const MUL14 = Uint8Array.from({ length: 256 }, (_, i) => gmul(i, 14));

/** An AES-128 key schedule: 11 round keys of 16 bytes. */
export class Aes128 {
  private readonly w = new Uint8Array(176);
  /** The state and a scratch copy, reused: a frame is 256 blocks, each 10 rounds. */
  private readonly s = new Uint8Array(16);
  private readonly t = new Uint8Array(16);

  constructor(key: Uint8Array) {
    if (key.length !== 16) throw new RangeError("an AES-128 key is 16 bytes");
    const w = this.w;
    w.set(key);
    let rcon = 1;
    for (let i = 16; i < 176; i += 4) {
      let t0 = w[i - 4];
      let t1 = w[i - 3];
      let t2 = w[i - 2];
      let t3 = w[i - 1];
      if (i % 16 === 0) {
        const r = t0;
        t0 = SBOX[t1] ^ rcon;
        t1 = SBOX[t2];
        t2 = SBOX[t3];
        t3 = SBOX[r];
        rcon = MUL2[rcon];
      }
      w[i] = w[i - 16] ^ t0;
      w[i + 1] = w[i - 15] ^ t1;
      w[i + 2] = w[i - 14] ^ t2;
      w[i + 3] = w[i - 13] ^ t3;
    }
  }

  /** Encrypts the 16 bytes of `b` at `at` in place. */
  encryptBlock(b: Uint8Array, at = 0): void {
    const w = this.w;
    const s = this.s;
    const t = this.t;
    for (let i = 0; i < 16; i++) s[i] = b[at + i] ^ w[i];
    for (let round = 1; round <= 10; round++) {
      // SubBytes and ShiftRows together: row r of column c comes from column c + r.
      for (let c = 0; c < 4; c++) for (let r = 0; r < 4; r++) t[c * 4 + r] = SBOX[s[((c + r) % 4) * 4 + r]];
      if (round < 10) {
        for (let c = 0; c < 4; c++) {
          const a0 = t[c * 4];
          const a1 = t[c * 4 + 1];
          const a2 = t[c * 4 + 2];
          const a3 = t[c * 4 + 3];
          s[c * 4] = MUL2[a0] ^ MUL3[a1] ^ a2 ^ a3;
          s[c * 4 + 1] = a0 ^ MUL2[a1] ^ MUL3[a2] ^ a3;
          s[c * 4 + 2] = a0 ^ a1 ^ MUL2[a2] ^ MUL3[a3];
          s[c * 4 + 3] = MUL3[a0] ^ a1 ^ a2 ^ MUL2[a3];
        }
      } else s.set(t);
      for (let i = 0; i < 16; i++) s[i] ^= w[round * 16 + i];
    }
    b.set(s, at);
  }

  /** Decrypts the 16 bytes of `b` at `at` in place. */
  decryptBlock(b: Uint8Array, at = 0): void {
    const w = this.w;
    const s = this.s;
    const t = this.t;
    for (let i = 0; i < 16; i++) s[i] = b[at + i] ^ w[160 + i];
    for (let round = 9; round >= 0; round--) {
      // InvShiftRows and InvSubBytes: row r of column c goes back to column c + r.
      for (let c = 0; c < 4; c++)
        for (let r = 0; r < 4; r++) t[((c + r) % 4) * 4 + r] = INV_SBOX[s[c * 4 + r]];
      for (let i = 0; i < 16; i++) t[i] ^= w[round * 16 + i];
      if (round > 0) {
        for (let c = 0; c < 4; c++) {
          const a0 = t[c * 4];
          const a1 = t[c * 4 + 1];
          const a2 = t[c * 4 + 2];
          const a3 = t[c * 4 + 3];
          s[c * 4] = MUL14[a0] ^ MUL11[a1] ^ MUL13[a2] ^ MUL9[a3];
          s[c * 4 + 1] = MUL9[a0] ^ MUL14[a1] ^ MUL11[a2] ^ MUL13[a3];
          s[c * 4 + 2] = MUL13[a0] ^ MUL9[a1] ^ MUL14[a2] ^ MUL11[a3];
          s[c * 4 + 3] = MUL11[a0] ^ MUL13[a1] ^ MUL9[a2] ^ MUL14[a3];
        }
      } else s.set(t);
    }
    b.set(s, at);
  }
}

/** Multiplies the 128-bit tweak by x in GF(2^128), little-endian as IEEE 1619 §5.2 has it. */
function timesAlpha(t: Uint8Array): void {
  let carry = 0;
  for (let i = 0; i < 16; i++) {
    const next = t[i] >> 7;
    t[i] = ((t[i] << 1) | carry) & 0xff;
    carry = next;
  }
  if (carry) t[0] ^= 0x87;
}

/**
 * XTS-AES-128 (IEEE 1619-2007): a 32-byte key (a data key and a tweak key), data units whose length
 * is a multiple of 16 bytes, each with a 64-bit unit number as its tweak.
 */
export class XtsAes128 {
  private readonly data: Aes128;
  private readonly tweak: Aes128;

  constructor(key: Uint8Array) {
    if (key.length !== 32) throw new RangeError("an XTS-AES-128 key is 32 bytes");
    this.data = new Aes128(key.subarray(0, 16));
    this.tweak = new Aes128(key.subarray(16, 32));
  }

  encrypt(unit: number, plain: Uint8Array): Uint8Array {
    return this.run(unit, plain, true);
  }

  decrypt(unit: number, cipher: Uint8Array): Uint8Array {
    return this.run(unit, cipher, false);
  }

  private run(unit: number, input: Uint8Array, encrypt: boolean): Uint8Array {
    if (input.length % 16 !== 0) throw new RangeError("XTS data units here are whole 16-byte blocks");
    if (!Number.isSafeInteger(unit) || unit < 0)
      throw new RangeError("the data unit number must be a safe integer");
    const t = new Uint8Array(16);
    let n = unit;
    for (let i = 0; i < 8; i++) {
      t[i] = n % 256;
      n = Math.floor(n / 256);
    }
    this.tweak.encryptBlock(t);
    const out = Uint8Array.from(input);
    for (let at = 0; at < out.length; at += 16) {
      for (let i = 0; i < 16; i++) out[at + i] ^= t[i];
      if (encrypt) this.data.encryptBlock(out, at);
      else this.data.decryptBlock(out, at);
      for (let i = 0; i < 16; i++) out[at + i] ^= t[i];
      timesAlpha(t);
    }
    return out;
  }
}
