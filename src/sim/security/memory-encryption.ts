// Per-VM memory encryption, as AMD SEV and the Nitro System describe it: each VM has its own key,
// held by the memory controller and never by the hypervisor; every line a VM writes is encrypted
// under its key with the physical address as tweak, so the host (or another VM reaching the frame)
// sees only ciphertext. Only frames a guest has written hold data here; the rest read as zeros.
import { PAGE_4K } from "../memory/constants";
import { XtsAes128 } from "./aes";

/** A VM's key: its number (SEV's ASID picks the key slot) and the key itself, which never leaves here. */
export interface VmKey {
  keyId: number;
  key: Uint8Array;
}

/** One frame as the host's memory holds it: ciphertext, and the key slot it was written under. */
export interface EncryptedFrame {
  keyId: number;
  data: Uint8Array;
}

export interface MemoryEncryptionSnapshot {
  keys: Array<{ vmId: string; keyId: number; key: Uint8Array }>;
  frames: Array<{ hfn: number; keyId: number; data: Uint8Array }>;
}

export class MemoryEncryption {
  private readonly keys = new Map<string, VmKey>();
  private readonly ciphers = new Map<number, XtsAes128>();
  private readonly frames = new Map<number, EncryptedFrame>();
  /** What changed since a store last took it. */
  readonly changedKeys = new Set<string>();
  readonly droppedKeys = new Set<string>();
  readonly changedFrames = new Set<number>();
  readonly droppedFrames = new Set<number>();

  constructor(private readonly random: (bytes: number) => Uint8Array) {}

  /**
   * Gives every VM in `vmIds` a key of its own and retires the keys of VMs that are gone. A retired
   * key takes its frames with it: they are scrubbed, as a decommissioned SEV guest's memory is
   * unreadable once its key slot is freed.
   */
  sync(vmIds: readonly string[]): void {
    const live = new Set(vmIds);
    for (const [vmId, k] of this.keys) {
      if (live.has(vmId)) continue;
      this.keys.delete(vmId);
      this.ciphers.delete(k.keyId);
      this.changedKeys.delete(vmId);
      this.droppedKeys.add(vmId);
      for (const [hfn, f] of this.frames) if (f.keyId === k.keyId) this.scrub(hfn);
    }
    for (const vmId of vmIds) {
      if (this.keys.has(vmId)) continue;
      let keyId = 1;
      const used = new Set([...this.keys.values()].map((k) => k.keyId));
      while (used.has(keyId)) keyId++;
      this.keys.set(vmId, { keyId, key: this.random(32) });
      this.changedKeys.add(vmId);
      this.droppedKeys.delete(vmId);
    }
  }

  keyIdOf(vmId: string): number | null {
    return this.keys.get(vmId)?.keyId ?? null;
  }

  /** Every VM's key number: never the key itself. */
  keyIds(): Array<{ vmId: string; keyId: number }> {
    return [...this.keys].map(([vmId, k]) => ({ vmId, keyId: k.keyId }));
  }

  /** VMs holding the same key bytes (each VM must have its own). */
  sharedKeys(): Array<{ vmIds: string[] }> {
    const byKey = new Map<string, string[]>();
    for (const [vmId, k] of this.keys) {
      const hex = Array.from(k.key, (b) => b.toString(16).padStart(2, "0")).join("");
      byKey.set(hex, [...(byKey.get(hex) ?? []), vmId]);
    }
    return [...byKey.values()].filter((v) => v.length > 1).map((vmIds) => ({ vmIds }));
  }

  /** Frames holding ciphertext, with the key slot that wrote each. */
  writtenFrames(): Array<{ hfn: number; keyId: number }> {
    return [...this.frames].map(([hfn, f]) => ({ hfn, keyId: f.keyId }));
  }

  /** The host's view of a frame: its ciphertext as stored, or null when no guest wrote it. */
  hostView(hfn: number): Uint8Array | null {
    const f = this.frames.get(hfn);
    return f ? Uint8Array.from(f.data) : null;
  }

  /** `vmId`'s write of `bytes` at `offset` in host frame `hfn`: read, patch and re-encrypt the frame. */
  write(vmId: string, hfn: number, offset: number, bytes: Uint8Array): void {
    checkSpan(offset, bytes.length);
    const plain = this.read(vmId, hfn);
    plain.set(bytes, offset);
    const k = this.key(vmId);
    this.frames.set(hfn, { keyId: k.keyId, data: this.cipher(k).encrypt(hfn, plain) });
    this.changedFrames.add(hfn);
    this.droppedFrames.delete(hfn);
  }

  /**
   * What `vmId` reads from frame `hfn`: the memory controller decrypts with the reader's key, whoever
   * wrote the frame. A VM reaching another's frame gets the other's ciphertext run through the wrong
   * key: noise, not the data.
   */
  read(vmId: string, hfn: number): Uint8Array {
    const f = this.frames.get(hfn);
    if (!f) return new Uint8Array(PAGE_4K);
    return this.cipher(this.key(vmId)).decrypt(hfn, f.data);
  }

  /** Whether `vmId`'s read of `hfn` yields what the frame's writer put there (false: ciphertext to it). */
  readsPlaintext(vmId: string, hfn: number): boolean {
    const f = this.frames.get(hfn);
    if (!f) return true;
    return this.keys.get(vmId)?.keyId === f.keyId;
  }

  /** What a store writes for a VM's key and a frame: the stored form, or undefined when gone. */
  storedKey(vmId: string): VmKey | undefined {
    return this.keys.get(vmId);
  }

  storedFrame(hfn: number): EncryptedFrame | undefined {
    return this.frames.get(hfn);
  }

  /** Drops a frame's contents (its VM gave the frame back). */
  scrub(hfn: number): void {
    if (!this.frames.delete(hfn)) return;
    this.changedFrames.delete(hfn);
    this.droppedFrames.add(hfn);
  }

  snapshot(): MemoryEncryptionSnapshot {
    return {
      keys: [...this.keys].map(([vmId, k]) => ({ vmId, keyId: k.keyId, key: k.key })),
      frames: [...this.frames].map(([hfn, f]) => ({ hfn, keyId: f.keyId, data: f.data })),
    };
  }

  static restore(s: MemoryEncryptionSnapshot, random: (bytes: number) => Uint8Array): MemoryEncryption {
    const e = new MemoryEncryption(random);
    for (const k of s.keys) e.keys.set(k.vmId, { keyId: k.keyId, key: Uint8Array.from(k.key) });
    for (const f of s.frames) e.frames.set(f.hfn, { keyId: f.keyId, data: Uint8Array.from(f.data) });
    return e;
  }

  /** Test seam and audit input: the frames' ciphertext, by frame number (read-only use). */
  frameEntries(): Array<[number, EncryptedFrame]> {
    return [...this.frames];
  }

  private key(vmId: string): VmKey {
    const k = this.keys.get(vmId);
    if (!k) throw new RangeError(`vm ${vmId} has no memory key on this host`);
    return k;
  }

  private cipher(k: VmKey): XtsAes128 {
    let c = this.ciphers.get(k.keyId);
    if (!c) {
      c = new XtsAes128(k.key);
      this.ciphers.set(k.keyId, c);
    }
    return c;
  }
}

function checkSpan(offset: number, length: number): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + length > PAGE_4K)
    throw new RangeError("a write stays inside one 4 KiB page");
}
