// A host object's security state, stored beside the model: the VMs' memory keys and the frames
// their guests wrote (ciphertext), the measured boot and its verdict, and the host's attestation
// key. The private half of that key and the memory keys never leave this object.

import { hostOptimizations } from "../sim/host";
import type { HostRecord } from "../sim/records";
import {
  type BootImage,
  type BootRecord,
  type BootStage,
  goldenImages,
  measureBoot,
  tampered,
} from "../sim/security/measured-boot";
import { MemoryEncryption } from "../sim/security/memory-encryption";
import type { Sql } from "./sql";

interface SecurityMeta {
  boot: BootRecord;
  /** Stages whose image was changed on purpose (the admin's tamper route). */
  tampered: BootStage[];
  quarantined: boolean;
  signingKey: { privateJwk: JsonWebKey; publicJwk: JsonWebKey };
}

const SIGNING = { name: "ECDSA", namedCurve: "P-384" } as const;
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const buffer = (b: Uint8Array): ArrayBuffer => b.slice().buffer as ArrayBuffer;

export class HostSecurity {
  encryption: MemoryEncryption = new MemoryEncryption(random);
  private meta: Partial<SecurityMeta> = {};
  private signer: CryptoKey | null = null;

  constructor(private readonly sql: Sql) {}

  load(): void {
    const keys = this.sql<{
      vm_id: string;
      key_id: number;
      key: ArrayBuffer;
    }>`SELECT vm_id, key_id, key FROM security_keys`;
    const frames = this.sql<{
      hfn: number;
      key_id: number;
      data: ArrayBuffer;
    }>`SELECT hfn, key_id, data FROM security_frames`;
    this.encryption = MemoryEncryption.restore(
      {
        keys: keys.map((k) => ({ vmId: k.vm_id, keyId: k.key_id, key: new Uint8Array(k.key) })),
        frames: frames.map((f) => ({ hfn: f.hfn, keyId: f.key_id, data: new Uint8Array(f.data) })),
      },
      random,
    );
    this.meta = Object.fromEntries(
      this.sql<{ key: string; value: string }>`SELECT key, value FROM security_meta`.map((r) => [
        r.key,
        JSON.parse(r.value),
      ]),
    );
    this.signer = null;
  }

  /**
   * Writes what changed since the last save; run inside the call's transaction. `vmIds`,
   * the VMs whose memory the host holds, only when that set may have changed (a VM's memory
   * made or destroyed): a call that changed neither costs no walk over the VMs.
   */
  save(vmIds: readonly string[] | null): void {
    const e = this.encryption;
    if (vmIds !== null) e.sync(vmIds);
    for (const vmId of e.droppedKeys) this.sql`DELETE FROM security_keys WHERE vm_id = ${vmId}`;
    for (const hfn of e.droppedFrames) this.sql`DELETE FROM security_frames WHERE hfn = ${hfn}`;
    for (const vmId of e.changedKeys) {
      const k = e.storedKey(vmId);
      if (!k) continue;
      this
        .sql`INSERT OR REPLACE INTO security_keys (vm_id, key_id, key) VALUES (${vmId}, ${k.keyId}, ${buffer(k.key)})`;
    }
    for (const hfn of e.changedFrames) {
      const f = e.storedFrame(hfn);
      if (!f) continue;
      this
        .sql`INSERT OR REPLACE INTO security_frames (hfn, key_id, data) VALUES (${hfn}, ${f.keyId}, ${buffer(f.data)})`;
    }
    for (const s of [e.droppedKeys, e.droppedFrames, e.changedKeys, e.changedFrames]) s.clear();
  }

  private put<K extends keyof SecurityMeta>(key: K, value: SecurityMeta[K]): void {
    this.sql`INSERT OR REPLACE INTO security_meta (key, value) VALUES (${key}, ${JSON.stringify(value)})`;
    this.meta[key] = value;
  }

  get quarantined(): boolean {
    return this.meta.quarantined ?? false;
  }

  setQuarantined(q: boolean): void {
    if (q !== this.quarantined) this.put("quarantined", q);
  }

  /** The images this host boots: the release's, with any stage changed on purpose. */
  images(host: HostRecord): BootImage[] {
    const changed = new Set(this.meta.tampered ?? []);
    return goldenImages(host.hypervisor, hostOptimizations(host)).map((img) =>
      changed.has(img.stage) ? tampered(img) : img,
    );
  }

  /** The boot record, measured now if the host never was (hosts made before measured boot). */
  async bootRecord(host: HostRecord, now: number): Promise<BootRecord> {
    if (this.meta.boot) return this.meta.boot;
    return this.reboot(host, now);
  }

  /** Boots the host's software again and measures it. */
  async reboot(host: HostRecord, now: number): Promise<BootRecord> {
    const record = await measureBoot(this.images(host), now);
    this.put("boot", record);
    return record;
  }

  /** Changes a stage's image (as an attacker with the host's disk would) and boots again. */
  async tamper(host: HostRecord, stage: BootStage, now: number): Promise<BootRecord> {
    const stages = this.images(host).map((i) => i.stage);
    if (!stages.includes(stage)) throw new RangeError(`a ${host.hypervisor} host boots no ${stage} stage`);
    this.put("tampered", [...new Set([...(this.meta.tampered ?? []), stage])]);
    return this.reboot(host, now);
  }

  /** The attestation key's public half, made on first use. */
  async publicKey(): Promise<JsonWebKey> {
    return (await this.signingKey()).publicJwk;
  }

  /** ES384 over `bytes`: r || s, 96 bytes, as WebCrypto's verify takes it. */
  async sign(bytes: Uint8Array): Promise<Uint8Array> {
    if (!this.signer) {
      const { privateJwk } = await this.signingKey();
      this.signer = await crypto.subtle.importKey("jwk", privateJwk, SIGNING, false, ["sign"]);
    }
    return new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-384" }, this.signer, bytes));
  }

  private async signingKey(): Promise<SecurityMeta["signingKey"]> {
    if (this.meta.signingKey) return this.meta.signingKey;
    const pair = (await crypto.subtle.generateKey(SIGNING, true, ["sign", "verify"])) as CryptoKeyPair;
    const privateJwk = (await crypto.subtle.exportKey("jwk", pair.privateKey)) as JsonWebKey;
    const publicJwk = (await crypto.subtle.exportKey("jwk", pair.publicKey)) as JsonWebKey;
    // Two first uses at once must end with one key: the first stored wins.
    if (!this.meta.signingKey) this.put("signingKey", { privateJwk, publicJwk });
    return this.meta.signingKey!;
  }
}
