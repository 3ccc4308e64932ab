// SHA-256, or HMAC-SHA256 with a secret, over Web Crypto (in Node and in workerd alike): the
// Checksum the AWS SDK's SigV4 signer (@smithy/signature-v4) takes, for tests that sign.
type SourceData = string | ArrayBuffer | ArrayBufferView;

const bytesOf = (d: SourceData): Uint8Array =>
  typeof d === "string"
    ? new TextEncoder().encode(d)
    : d instanceof ArrayBuffer
      ? new Uint8Array(d)
      : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

export class WebSha256 {
  private readonly parts: Uint8Array[] = [];
  constructor(private readonly secret?: SourceData) {}
  update(data: SourceData) {
    this.parts.push(bytesOf(data));
  }
  async digest(): Promise<Uint8Array> {
    const data = new Uint8Array(this.parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of this.parts) {
      data.set(p, at);
      at += p.length;
    }
    if (this.secret === undefined) return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
    const key = await crypto.subtle.importKey(
      "raw",
      bytesOf(this.secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    return new Uint8Array(await crypto.subtle.sign("HMAC", key, data));
  }
  reset() {
    this.parts.length = 0;
  }
}
