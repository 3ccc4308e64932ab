// The security model through the API: measured boot and quarantine, the isolation audit over a host
// object corrupted on purpose, attestation verified with WebCrypto alone, and guest data that no
// route gives anyone but its owner in plaintext.
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { HostModel } from "../../src/sim/host";
import { PAGE_4K } from "../../src/sim/memory/constants";
import {
  ADMIN_KEY,
  addHosts,
  advance,
  bearer,
  call,
  freshZone,
  type InstanceBody,
  launch,
  newTenant,
  type Problem,
  type Tenant,
} from "./helpers";
import { newVolume, storageZone } from "./storage-helpers";

interface Check {
  check: string;
  status: string;
  findings: Array<{ kind: string; instanceIds: string[]; readThrough: string | null; hpa: string | null }>;
}
interface Boot {
  status: string;
  pcr: string;
  measurements: Array<{ stage: string; digest: string; pcr: string }>;
  check: Check;
}

async function running(tenant: Tenant, zone: string, type = "m5.large"): Promise<InstanceBody> {
  const res = await launch({ instanceType: type, availabilityZone: zone }, bearer(tenant.apiKey));
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  await advance(60);
  return res.body.instances[0];
}

const statuses = (checks: Check[]) => Object.fromEntries(checks.map((c) => [c.check, c.status]));

/** The host object's model, to corrupt it on purpose (in memory: the next eviction undoes it). */
async function corrupt(hostId: string, fn: (m: HostModel) => void) {
  await runInDurableObject(env.HOST.getByName(hostId), (obj) => {
    fn((obj as unknown as { model: HostModel }).model);
  });
}

describe("measured boot and quarantine", () => {
  it("measures a new host's boot, trusts it, and lets a tenant read its measurements", async () => {
    const zone = freshZone();
    const [h] = await addHosts(zone, "m5", 1);
    const boot = await call<Boot>("GET", `/v1/hosts/${h.hostId}/boot`);
    expect(boot.status).toBe(200);
    expect(boot.body.status).toBe("trusted");
    expect(boot.body.measurements.map((m) => m.stage)).toEqual([
      "firmware",
      "nitro-security-chip",
      "hypervisor",
      "config",
    ]);
    expect(boot.body.pcr).toBe(boot.body.measurements.at(-1)!.pcr);
    const xen = (await addHosts(zone, "m4", 1))[0];
    const xenBoot = await call<Boot>("GET", `/v1/hosts/${xen.hostId}/boot`);
    expect(xenBoot.body.measurements.map((m) => m.stage)).toEqual([
      "firmware",
      "xen",
      "hypervisor",
      "config",
    ]);
  });

  it("quarantines a host whose image was tampered with, keeps placement off it, and trusts it again once its digest is allowed", async () => {
    const zone = freshZone();
    const [good, bad] = await addHosts(zone, "m5", 2);
    const t = await call<Boot>("POST", `/v1/admin/hosts/${bad.hostId}/tamper`, { stage: "hypervisor" });
    expect(t.status).toBe(200);
    expect(t.body.status).toBe("quarantined");
    expect(t.body.check.findings.map((f) => f.kind)).toEqual(["unknown-measurement"]);
    // Placement: ten launches all land on the good host, though binpack would fill either.
    const tenant = await newTenant("placement");
    const res = await launch(
      { instanceType: "m5.large", availabilityZone: zone, maxCount: 10 },
      bearer(tenant.apiKey),
    );
    expect(res.status).toBe(201);
    expect(new Set(res.body.instances.map((i) => i.hostId))).toEqual(new Set([good.hostId]));
    // The audit shows the boot check failing, and only it.
    const audit = await call<{ isolated: boolean; checks: Check[] }>(
      "GET",
      `/v1/hosts/${bad.hostId}/isolation`,
    );
    expect(audit.body.isolated).toBe(false);
    expect(audit.body.checks.filter((c) => c.status === "fail").map((c) => c.check)).toEqual(["boot"]);
    // The host object refuses on its own too, whoever offers.
    const offer = await env.HOST.getByName(bad.hostId).admit(
      [{ ...res.body.instances[0], instanceId: "i-00000000000000bad" } as never],
      1,
      { mode: "manual", anchorWallMs: 0, anchorSimMs: 0, scale: 1, generation: 999 } as never,
    );
    expect(offer.result).toEqual([]);
    // A host that is the only one left: nothing fits.
    const big = await launch({ instanceType: "m5.24xlarge", availabilityZone: zone }, bearer(tenant.apiKey));
    expect(big.status).toBe(503);
    expect((big.body as Problem).code).toBe("InsufficientInstanceCapacity");
    // The new build is approved: the list gains its digest, every host is attested again.
    const list = await call<{ entries: Array<{ stage: string; digest: string; description: string }> }>(
      "GET",
      "/v1/admin/boot-allow-list",
    );
    const digest = t.body.measurements.find((m) => m.stage === "hypervisor")!.digest;
    const entries = [
      ...list.body.entries.map((e) => ({ stage: e.stage, digest: e.digest, description: e.description })),
      { stage: "hypervisor", digest, description: "hotfix build" },
    ];
    const put = await call<{ quarantined: string[]; hostsAttested: number }>(
      "PUT",
      "/v1/admin/boot-allow-list",
      {
        entries,
      },
    );
    expect(put.status).toBe(200);
    expect(put.body.quarantined).not.toContain(bad.hostId);
    expect(put.body.hostsAttested).toBeGreaterThanOrEqual(2);
    expect((await call<Boot>("GET", `/v1/hosts/${bad.hostId}/boot`)).body.status).toBe("trusted");
    const now = await launch({ instanceType: "m5.24xlarge", availabilityZone: zone }, bearer(tenant.apiKey));
    expect(now.status).toBe(201);
    expect(now.body.instances[0].hostId).toBe(bad.hostId);
    // Taking the digest off again quarantines it on the spot.
    await call("PUT", "/v1/admin/boot-allow-list", { entries: entries.slice(0, -1) });
    expect((await call<Boot>("GET", `/v1/hosts/${bad.hostId}/boot`)).body.status).toBe("quarantined");
    await call("PUT", "/v1/admin/boot-allow-list", { entries: entries.slice(0, -1) });
  });

  it("reconciles a host object whose quarantine flag lost the fleet's verdict, and repairs it", async () => {
    const [h] = await addHosts(freshZone(), "m5", 1);
    await call("POST", `/v1/admin/hosts/${h.hostId}/tamper`, { stage: "firmware" });
    // The verdict reached D1 but not the host object (as if the call after D1's write failed).
    await env.HOST.getByName(h.hostId).setQuarantined(false);
    type Report = { mismatches: Array<{ hostId: string; kind: string }>; repaired: number };
    const seen = await call<Report>("POST", "/v1/admin/reconcile", {});
    expect(seen.body.mismatches.filter((m) => m.hostId === h.hostId)).toEqual([
      expect.objectContaining({ kind: "boot-verdict" }),
    ]);
    await call("POST", "/v1/admin/reconcile", { repair: true });
    expect((await env.HOST.getByName(h.hostId).reconcileView())?.quarantined).toBe(true);
    const after = await call<Report>("POST", "/v1/admin/reconcile", {});
    expect(after.body.mismatches.filter((m) => m.hostId === h.hostId)).toEqual([]);
  });

  it("refuses bad allow-list and tamper input with a 400 naming the field, changing nothing", async () => {
    const [h] = await addHosts(freshZone(), "m5", 1);
    const before = await call<{ entries: unknown[] }>("GET", "/v1/admin/boot-allow-list");
    const bad = await call<Problem>("PUT", "/v1/admin/boot-allow-list", {
      entries: [{ stage: "hypervisor", digest: "abc" }],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toContain("body.entries.0.digest");
    const config = await call<Problem>("PUT", "/v1/admin/boot-allow-list", {
      entries: [{ stage: "config", digest: "a".repeat(96) }],
    });
    expect(config.status).toBe(400);
    expect(config.body.detail).toContain("body.entries.0.stage");
    expect((await call("GET", "/v1/admin/boot-allow-list")).body).toEqual(before.body);
    const xen = await call<Problem>("POST", `/v1/admin/hosts/${h.hostId}/tamper`, { stage: "xen" });
    expect(xen.status).toBe(400);
    expect(xen.body.detail).toContain("body.stage");
    expect((await call<Boot>("GET", `/v1/hosts/${h.hostId}/boot`)).body.status).toBe("trusted");
  });
});

describe("the isolation audit", () => {
  it("passes a clean host, and names exactly the check a corruption breaks", async () => {
    const zone = freshZone();
    const [h] = await addHosts(zone, "m5", 1);
    const a = await newTenant("audit-a");
    const b = await newTenant("audit-b");
    const ia = await running(a, zone);
    const ib = await running(b, zone);
    const wa = await call<{ hpa: string }>(
      "POST",
      `/v1/instances/${ia.instanceId}/memory/write`,
      { address: "0x400000", data: btoa("account a's data") },
      bearer(a.apiKey),
    );
    expect(wa.status).toBe(200);
    const wb = await call<{ gpa: string }>(
      "POST",
      `/v1/instances/${ib.instanceId}/memory/write`,
      { address: "0x400000", data: btoa("account b's data") },
      bearer(b.apiKey),
    );
    expect(wb.status).toBe(200);
    const clean = await call<{ isolated: boolean; checks: Check[] }>(
      "GET",
      `/v1/hosts/${h.hostId}/isolation`,
    );
    expect(clean.body.isolated).toBe(true);
    expect(statuses(clean.body.checks)).toEqual({
      boot: "pass",
      memory: "pass",
      cpu: "pass",
      encryption: "pass",
      network: "pass",
      storage: "pass",
    });
    const examinedNetwork = clean.body.checks.find((c) => c.check === "network") as Check & {
      examined: Array<{ what: string; count: number }>;
    };
    expect(examinedNetwork.examined).toContainEqual({ what: "interfaces", count: 2 });

    // A wrong VNI: B's interface re-pointed in D1 at A's VPC, so its frames would carry A's segment.
    const vpcOf = async (id: string) =>
      (await env.DB.prepare("SELECT vpc_id FROM network_interfaces WHERE instance_id = ?").bind(id).first<{
        vpc_id: string;
      }>())!.vpc_id;
    const [vpcA, vpcB] = [await vpcOf(ia.instanceId), await vpcOf(ib.instanceId)];
    expect(vpcA).not.toBe(vpcB);
    await env.DB.prepare("UPDATE network_interfaces SET vpc_id = ? WHERE instance_id = ?")
      .bind(vpcA, ib.instanceId)
      .run();
    const wrongVni = await call<{ checks: Check[] }>("GET", `/v1/hosts/${h.hostId}/isolation`);
    const netFail = wrongVni.body.checks.filter((c) => c.status === "fail");
    expect(netFail.map((c) => c.check)).toEqual(["network"]);
    expect(netFail[0].findings.map((f) => f.kind)).toContain("vni-mismatch");
    expect(netFail[0].findings.every((f) => f.instanceIds[0] === ib.instanceId)).toBe(true);
    await env.DB.prepare("UPDATE network_interfaces SET vpc_id = ? WHERE instance_id = ?")
      .bind(vpcB, ib.instanceId)
      .run();

    // A cross-account pin: B's first vCPU on A's first thread.
    await corrupt(h.hostId, (m) => {
      const vm = m.vm(ib.instanceId)!;
      vm.instance = { ...vm.instance, threads: [ia.cpuPinning[0], ...vm.instance.threads.slice(1)] };
    });
    const pinned = await call<{ checks: Check[] }>("GET", `/v1/hosts/${h.hostId}/isolation`);
    expect(pinned.body.checks.filter((c) => c.status === "fail").map((c) => c.check)).toEqual(["cpu"]);
    await corrupt(h.hostId, (m) => {
      const vm = m.vm(ib.instanceId)!;
      vm.instance = { ...vm.instance, threads: ib.cpuPinning };
    });

    // A shared frame: B's EPT leaf for its page pointed at A's frame.
    await corrupt(h.hostId, (m) => {
      const vm = m.memory.vm(ib.instanceId);
      const i = vm.ept.findLeaf(vm.eptRoot, Math.floor(Number(wb.body.gpa) / PAGE_4K));
      const pool = vm.ept.pool(vm.ept.level);
      const leafBytes = 512 ** (vm.ept.level - 1) * PAGE_4K;
      pool.entries[i] = Math.floor(Number(wa.body.hpa) / leafBytes) * leafBytes + (pool.entries[i] % PAGE_4K);
      vm.invept();
    });
    const shared = await call<{ checks: Check[] }>("GET", `/v1/hosts/${h.hostId}/isolation`);
    const failing = shared.body.checks.filter((c) => c.status === "fail");
    expect(failing.map((c) => c.check)).toEqual(["memory"]);
    const kinds = failing[0].findings.map((f) => f.kind);
    expect(kinds).toContain("shared-frame");
    expect(kinds).toContain("foreign-mapping");
    const foreign = failing[0].findings.find((f) => f.kind === "foreign-mapping")!;
    expect(foreign.instanceIds).toEqual([ib.instanceId, ia.instanceId]);
    expect(foreign.readThrough).toBe("ciphertext");
    // A tenant on the host sees the finding with the other account's instance unnamed.
    const asB = await call<{ checks: Check[] }>(
      "GET",
      `/v1/hosts/${h.hostId}/isolation`,
      undefined,
      bearer(b.apiKey),
    );
    expect(asB.status).toBe(200);
    expect(JSON.stringify(asB.body)).not.toContain(ia.instanceId);
    const seenByB = asB.body.checks
      .find((c) => c.check === "memory")!
      .findings.find((f) => f.kind === "foreign-mapping")!;
    expect(seenByB.instanceIds).toEqual([ib.instanceId, "another-account"]);
    // B reading through the bad mapping gets noise, never A's data.
    const read = await call<{ data: string }>(
      "POST",
      `/v1/instances/${ib.instanceId}/memory/read`,
      { address: "0x400000", length: 16 },
      bearer(b.apiKey),
    );
    expect(read.status).toBe(200);
    expect(atob(read.body.data)).not.toBe("account a's data");
  });
});

describe("the isolation audit's storage check", () => {
  it("passes a host whose instances have their own account's volumes, and fails exactly on a cross-account attachment", async () => {
    const { zone, instanceId: spare } = await storageZone("m5", "m5.large");
    const hostId = (await call<InstanceBody>("GET", `/v1/instances/${spare}`)).body.hostId;
    const a = await newTenant("storage-a");
    const b = await newTenant("storage-b");
    const ia = await running(a, zone);
    const ib = await running(b, zone);
    expect(new Set([ia.hostId, ib.hostId])).toEqual(new Set([hostId]));
    const volume = async (t: Tenant, instanceId: string) => {
      const v = await newVolume(zone, {}, bearer(t.apiKey));
      expect(v.status).toBe(201);
      const at = await call(
        "POST",
        `/v1/volumes/${v.body.volumeId}/attach`,
        { instanceId, device: "/dev/sdf" },
        bearer(t.apiKey),
      );
      expect(at.status).toBe(200);
      return v.body.volumeId;
    };
    const va = await volume(a, ia.instanceId);
    await volume(b, ib.instanceId);
    // The API refuses the cross-account attachment itself: to A, B's instance does not exist.
    const refused = await call<Problem>(
      "POST",
      `/v1/volumes/${va}/attach`,
      { instanceId: ib.instanceId, device: "/dev/sdg" },
      bearer(a.apiKey),
    );
    expect(refused.status).toBe(404);

    const clean = await call<{ isolated: boolean; checks: Check[] }>("GET", `/v1/hosts/${hostId}/isolation`);
    expect(clean.body.isolated).toBe(true);
    expect(statuses(clean.body.checks)).toEqual({
      boot: "pass",
      memory: "pass",
      cpu: "pass",
      encryption: "pass",
      network: "pass",
      storage: "pass",
    });
    const examined = clean.body.checks.find((c) => c.check === "storage") as Check & {
      examined: Array<{ what: string; count: number }>;
    };
    expect(examined.examined).toContainEqual({ what: "attachments", count: 2 });

    // A cross-account attachment written straight into D1: A's volume's attachment moved to B's instance.
    // (D1 refuses a second attachment of a volume that is not Multi-Attach, so it is moved, not added.)
    await env.DB.prepare(
      "UPDATE volume_attachments SET instance_id = ?, device = '/dev/sdg' WHERE volume_id = ?",
    )
      .bind(ib.instanceId, va)
      .run();
    type Finding = Check["findings"][number] & { resource: string; expected: string; found: string };
    const broken = await call<{ isolated: boolean; checks: Check[] }>("GET", `/v1/hosts/${hostId}/isolation`);
    expect(broken.body.isolated).toBe(false);
    const failing = broken.body.checks.filter((c) => c.status === "fail");
    expect(failing.map((c) => c.check)).toEqual(["storage"]);
    expect(failing[0].findings).toHaveLength(1);
    const f = failing[0].findings[0] as Finding;
    expect(f.kind).toBe("cross-account-attachment");
    expect(f.instanceIds).toEqual([ib.instanceId]);
    expect(f.resource).toBe(va);
    expect(f.expected).toBe(b.accountId);
    expect(f.found).toBe(a.accountId);
    // B, auditing its own instance's host, sees the finding without A's volume or account.
    const asB = await call<{ checks: Check[] }>(
      "GET",
      `/v1/hosts/${hostId}/isolation`,
      undefined,
      bearer(b.apiKey),
    );
    expect(asB.status).toBe(200);
    expect(JSON.stringify(asB.body)).not.toContain(va);
    expect(JSON.stringify(asB.body)).not.toContain(a.accountId);
    const seenByB = asB.body.checks.find((c) => c.check === "storage")!.findings[0] as Finding;
    expect(seenByB.instanceIds).toEqual([ib.instanceId]);
    expect([seenByB.resource, seenByB.found]).toEqual(["another-account", "another-account"]);
    // Undone, the host passes again.
    await env.DB.prepare("DELETE FROM volume_attachments WHERE volume_id = ? AND instance_id = ?")
      .bind(va, ib.instanceId)
      .run();
    const again = await call<{ isolated: boolean }>("GET", `/v1/hosts/${hostId}/isolation`);
    expect(again.body.isolated).toBe(true);
  });
});

describe("memory encryption in the host object's storage", () => {
  it("keeps a guest's data across an eviction, stores only ciphertext, and forgets both with the VM", async () => {
    const zone = freshZone();
    const [h] = await addHosts(zone, "m5", 1);
    const t = await newTenant("stored");
    const vm = await running(t, zone);
    const secret = `stored-secret-${crypto.randomUUID()}`;
    const w = await call<{ hpa: string }>(
      "POST",
      `/v1/instances/${vm.instanceId}/memory/write`,
      { address: "0x400000", data: btoa(secret) },
      bearer(t.apiKey),
    );
    expect(w.status).toBe(200);
    const stub = env.HOST.getByName(h.hostId);
    const rows = () =>
      runInDurableObject(stub, (_o, state) => ({
        frames: state.storage.sql.exec("SELECT data FROM security_frames").toArray() as {
          data: ArrayBuffer;
        }[],
        keys: state.storage.sql.exec("SELECT vm_id FROM security_keys").toArray() as { vm_id: string }[],
      }));
    const stored = await rows();
    expect(stored.keys.map((k) => k.vm_id)).toEqual([vm.instanceId]);
    expect(stored.frames).toHaveLength(1);
    expect(Buffer.from(stored.frames[0].data).includes(Buffer.from(secret))).toBe(false);
    await evictDurableObject(stub);
    const read = await call<{ data: string }>(
      "POST",
      `/v1/instances/${vm.instanceId}/memory/read`,
      { address: "0x400000", length: secret.length },
      bearer(t.apiKey),
    );
    expect(atob(read.body.data)).toBe(secret);
    expect((await call("DELETE", `/v1/instances/${vm.instanceId}`, undefined, bearer(t.apiKey))).status).toBe(
      200,
    );
    await advance(60);
    expect(await rows()).toEqual({ frames: [], keys: [] });
  });
});

/** Verifies an attestation document with WebCrypto alone; answers the payload or null. */
async function verify(
  doc: { document: string; signature: string },
  jwk: JsonWebKey,
  nonce: string,
  instanceId: string,
): Promise<{ nonce: string; instanceId: string; timestamp: number; pcr: string } | null> {
  const b64 = (s: string) =>
    Uint8Array.from(atob(s.replaceAll("-", "+").replaceAll("_", "/")), (c) => c.charCodeAt(0));
  const key = await crypto.subtle.importKey("jwk", jwk, { name: "ECDSA", namedCurve: "P-384" }, false, [
    "verify",
  ]);
  const bytes = b64(doc.document);
  const ok = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-384" }, key, b64(doc.signature), bytes);
  if (!ok) return null;
  const payload = JSON.parse(new TextDecoder().decode(bytes));
  return payload.nonce === nonce && payload.instanceId === instanceId ? payload : null;
}

const nonce = () =>
  Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16).padStart(2, "0")).join("");

describe("attestation", () => {
  it("signs the boot measurements, instance, nonce and time with the host's key; a changed byte, a stale nonce or another host's key fails", async () => {
    const zone = freshZone();
    const [h1, h2] = await addHosts(zone, "m5", 2, {});
    const tenant = await newTenant("attest");
    const r = await launch(
      { instanceType: "m5.24xlarge", availabilityZone: zone, minCount: 2, maxCount: 2 },
      bearer(tenant.apiKey),
    );
    expect(r.status).toBe(201);
    await advance(60);
    const inst = r.body.instances.find((i) => i.hostId === h1.hostId)!;
    const key1 = await call<{ publicKey: JsonWebKey; algorithm: string }>(
      "GET",
      `/v1/hosts/${h1.hostId}/attestation-key`,
      undefined,
      bearer(tenant.apiKey),
    );
    expect(key1.status).toBe(200);
    expect(key1.body.algorithm).toBe("ES384");
    const key2 = await call<{ publicKey: JsonWebKey }>("GET", `/v1/hosts/${h2.hostId}/attestation-key`);
    const n1 = nonce();
    const doc = await call<{ document: string; signature: string }>(
      "POST",
      `/v1/instances/${inst.instanceId}/attestation`,
      { nonce: n1 },
      bearer(tenant.apiKey),
    );
    expect(doc.status).toBe(200);
    const payload = await verify(doc.body, key1.body.publicKey, n1, inst.instanceId);
    expect(payload).not.toBeNull();
    const boot = await call<Boot>("GET", `/v1/hosts/${h1.hostId}/boot`);
    expect(payload!.pcr).toBe(boot.body.pcr);
    expect(payload!.timestamp).toBeGreaterThan(0);
    // One changed byte of the document.
    const bytes = atob(doc.body.document.replaceAll("-", "+").replaceAll("_", "/"));
    const changed = btoa(bytes.replace(n1.slice(0, 2), n1.slice(0, 2) === "00" ? "01" : "00"))
      .replaceAll("+", "-")
      .replaceAll("/", "_")
      .replace(/=+$/, "");
    expect(changed).not.toBe(doc.body.document);
    expect(
      await verify({ ...doc.body, document: changed }, key1.body.publicKey, n1, inst.instanceId),
    ).toBeNull();
    // A document made for an earlier nonce, replayed against a new one.
    expect(await verify(doc.body, key1.body.publicKey, nonce(), inst.instanceId)).toBeNull();
    // Another host's key.
    expect(await verify(doc.body, key2.body.publicKey, n1, inst.instanceId)).toBeNull();
    // A nonce too short, and no admin or other account may ask.
    const short = await call<Problem>(
      "POST",
      `/v1/instances/${inst.instanceId}/attestation`,
      { nonce: "ab" },
      bearer(tenant.apiKey),
    );
    expect(short.status).toBe(400);
    expect(short.body.detail).toContain("body.nonce");
    expect(
      (await call("POST", `/v1/instances/${inst.instanceId}/attestation`, { nonce: n1 }, bearer(ADMIN_KEY)))
        .status,
    ).toBe(403);
    const other = await newTenant("other");
    const theirs = await call<Problem>(
      "POST",
      `/v1/instances/${inst.instanceId}/attestation`,
      { nonce: n1 },
      bearer(other.apiKey),
    );
    expect(theirs.status).toBe(404);
  });
});
