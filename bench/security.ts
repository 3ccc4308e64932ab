// Benchmark of the security model: XTS-AES-128 over 4 KiB frames against WebCrypto's AES-CTR over the
// same bytes (native code, the baseline), a guest write (its translation, and its frame decrypted,
// patched and encrypted again), and the isolation audit of a host with 48 VMs of 4 accounts.
import { findInstanceType, HOST_SHAPES } from "../src/sim/catalog";
import { HostModel } from "../src/sim/host";
import { offeredInstance } from "../src/sim/records";
import { XtsAes128 } from "../src/sim/security/aes";
import { writeGuest } from "../src/sim/security/guest-data";
import { auditHost } from "../src/sim/security/host-audit";
import { MemoryEncryption } from "../src/sim/security/memory-encryption";
import { emit } from "./_emit";

const FRAME = 4096;
const FRAMES = 2000;

async function cipherFigures() {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const xts = new XtsAes128(key);
  const plain = crypto.getRandomValues(new Uint8Array(FRAME));
  for (let i = 0; i < 100; i++) xts.encrypt(i, plain);
  let t0 = performance.now();
  for (let i = 0; i < FRAMES; i++) xts.encrypt(i, plain);
  const ms = performance.now() - t0;
  const ctrKey = await crypto.subtle.importKey("raw", key.subarray(0, 16), "AES-CTR", false, ["encrypt"]);
  const counter = new Uint8Array(16);
  t0 = performance.now();
  for (let i = 0; i < FRAMES; i++)
    await crypto.subtle.encrypt({ name: "AES-CTR", counter, length: 64 }, ctrKey, plain);
  const baseMs = performance.now() - t0;
  const mbps = (ms: number) => (FRAMES * FRAME) / 1e6 / (ms / 1000);
  emit({
    suite: "security",
    name: "XTS-AES-128 over 4 KiB frames",
    value: +mbps(ms).toFixed(1),
    unit: "MB/s",
    msPerFrame: +(ms / FRAMES).toFixed(3),
    baseline: +mbps(baseMs).toFixed(1),
    baselineName: "WebCrypto AES-CTR, same bytes",
  });
}

function hostFigures() {
  const { family: _f, hypervisor, ...hw } = HOST_SHAPES.m5;
  let n = 0;
  const host = new HostModel(
    { hostId: "h-1", zone: "z", rack: "r", family: "m5", hypervisor, hw, state: "available", createdAt: 0 },
    [],
    0,
    () => `e${n++}`,
  );
  const enc = new MemoryEncryption((k) => crypto.getRandomValues(new Uint8Array(k)));
  const ids: string[] = [];
  const type = findInstanceType("m5.large")!;
  for (let i = 0; i < 48; i++) {
    const id = `i-${i.toString(16).padStart(17, "0")}`;
    const rec = offeredInstance(type, {
      instanceId: id,
      accountId: String(i % 4).repeat(12),
      reservationId: "r-0",
    });
    host.admit([rec], 0, { commitIfAtLeast: 1, holdExpiresWallMs: 0 });
    ids.push(id);
  }
  enc.sync(host.memory.vmIds());
  const data = new Uint8Array(256).fill(0x5a);
  let writes = 0;
  const t0 = performance.now();
  for (const id of ids)
    for (let p = 0; p < 64; p++) {
      writeGuest(host, enc, id, { asid: 1, gva: 0x400000 + p * FRAME * 7, vcpu: 0 }, data, 0);
      writes++;
    }
  emit({
    suite: "security",
    name: "guest write of 256 bytes (translation, frame decrypted and encrypted again)",
    value: +((performance.now() - t0) / writes).toFixed(3),
    unit: "ms",
  });
  const runs = 10;
  const t1 = performance.now();
  let frames = 0;
  for (let i = 0; i < runs; i++) frames = auditHost(host, enc).checks[0].examined[2].count;
  emit({
    suite: "security",
    name: "isolation audit of a host with 48 VMs, 3,072 frames written",
    value: +((performance.now() - t1) / runs).toFixed(1),
    unit: "ms",
    hostFramesExamined: frames,
  });
}

await cipherFigures();
hostFigures();
