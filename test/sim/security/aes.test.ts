// AES-128 and XTS-AES-128 against the standards' vectors and against WebCrypto's AES.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Aes128, XtsAes128 } from "../../../src/sim/security/aes";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const bytes = (h: string) => new Uint8Array(Buffer.from(h, "hex"));

describe("AES-128", () => {
  it("encrypts FIPS 197 appendix C.1's block to its ciphertext and back", () => {
    const aes = new Aes128(bytes("000102030405060708090a0b0c0d0e0f"));
    const b = bytes("00112233445566778899aabbccddeeff");
    aes.encryptBlock(b);
    expect(hex(b)).toBe("69c4e0d86a7b0430d8cdb78070b4c55a");
    aes.decryptBlock(b);
    expect(hex(b)).toBe("00112233445566778899aabbccddeeff");
  });

  it("agrees with WebCrypto's AES on random keys and blocks", async () => {
    // AES-CTR over a zero block with the counter set to b yields AES_k(b): one block of ECB.
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        async (key, block) => {
          const k = await crypto.subtle.importKey("raw", key, "AES-CTR", false, ["encrypt"]);
          const ref = new Uint8Array(
            await crypto.subtle.encrypt(
              { name: "AES-CTR", counter: block, length: 64 },
              k,
              new Uint8Array(16),
            ),
          );
          const mine = Uint8Array.from(block);
          new Aes128(key).encryptBlock(mine);
          expect(hex(mine)).toBe(hex(ref));
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe("XTS-AES-128", () => {
  it("matches IEEE 1619 vector 1 (zero keys, unit 0, 32 zero bytes)", () => {
    const xts = new XtsAes128(new Uint8Array(32));
    expect(hex(xts.encrypt(0, new Uint8Array(32)))).toBe(
      "917cf69ebd68b2ec9b9fe9a3eadda692cd43d2f59598ed858c02c2652fbf922e",
    );
  });

  it("round-trips any frame, and the same plaintext differs at another frame or under another key", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.nat({ max: 2 ** 30 }),
        (k1, k2, unit) => {
          fc.pre(hex(k1) !== hex(k2));
          const plain = new Uint8Array(4096).fill(0x41);
          const a = new XtsAes128(k1);
          const c = a.encrypt(unit, plain);
          expect(hex(a.decrypt(unit, c))).toBe(hex(plain));
          expect(hex(c)).not.toBe(hex(a.encrypt(unit + 1, plain)));
          expect(hex(c)).not.toBe(hex(new XtsAes128(k2).encrypt(unit, plain)));
          // The wrong key reads noise, not the plaintext.
          expect(hex(new XtsAes128(k2).decrypt(unit, c))).not.toBe(hex(plain));
        },
      ),
      { numRuns: 20 },
    );
  });
});
