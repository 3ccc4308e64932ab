// The isolation audit over a host model: clean hosts pass every check, and each corruption made on
// purpose fails exactly the check that guards against it, with the evidence.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PAGE_4K } from "../../../src/sim/memory/constants";
import { readGuest, writeGuest } from "../../../src/sim/security/guest-data";
import { auditHost } from "../../../src/sim/security/host-audit";
import type { CheckResult } from "../../../src/sim/security/isolation";
import { ACCOUNT_A, ACCOUNT_B, encryptionFor, launch, nitroHost, text } from "./fixtures";

const at = { asid: 1, gva: 0x7f0000401000, vcpu: 0 };
const statuses = (checks: CheckResult[]) => Object.fromEntries(checks.map((c) => [c.check, c.status]));
const failing = (checks: CheckResult[]) => checks.filter((c) => c.status === "fail").map((c) => c.check);

/** Two accounts' VMs, each with a secret written at the same guest address. */
function twoTenants() {
  const host = nitroHost();
  const a = launch(host, ACCOUNT_A);
  const b = launch(host, ACCOUNT_B);
  const enc = encryptionFor(host);
  const wa = writeGuest(host, enc, a, at, text("secret of account A"), 0)!;
  const wb = writeGuest(host, enc, b, at, text("secret of account B"), 0)!;
  return { host, enc, a, b, wa, wb };
}

/** Points `vm`'s EPT leaf for `gpa` at host frame `hfn` (a hypervisor bug, made on purpose). */
function repoint(host: ReturnType<typeof nitroHost>, vm: string, gpa: number, hfn: number) {
  const m = host.memory.vm(vm);
  const i = m.ept.findLeaf(m.eptRoot, Math.floor(gpa / PAGE_4K));
  expect(i).toBeGreaterThanOrEqual(0);
  expect(m.ept.level).toBe(1);
  const e = m.ept.leaf.entries[i];
  m.ept.leaf.entries[i] = hfn * PAGE_4K + (e % PAGE_4K);
  // As after any EPT change: no vCPU keeps the old translation.
  m.invept();
}

describe("the isolation audit", () => {
  it("passes memory, CPU and encryption on a host of two accounts' VMs", () => {
    const { host, enc } = twoTenants();
    const { checks } = auditHost(host, enc);
    expect(statuses(checks)).toEqual({ memory: "pass", cpu: "pass", encryption: "pass" });
    const memory = checks.find((c) => c.check === "memory")!;
    // It looked at something: every block both VMs' EPTs reach.
    expect(memory.examined.find((e) => e.what === "hostBlocks")!.count).toBeGreaterThan(2);
  });

  it("reports a frame two VMs reach, and that the intruder reads only ciphertext there", () => {
    const { host, enc, a, b, wa, wb } = twoTenants();
    repoint(host, b, wb.gpa, Math.floor(wa.hpa / PAGE_4K));
    const { checks } = auditHost(host, enc);
    expect(failing(checks)).toEqual(["memory"]);
    const findings = checks.find((c) => c.check === "memory")!.findings;
    const shared = findings.find((f) => f.kind === "shared-frame")!;
    expect(shared.instanceIds.sort()).toEqual([a, b].sort());
    expect(shared.hpa).toBe(`0x${(Math.floor(wa.hpa / PAGE_4K) * PAGE_4K).toString(16)}`);
    const foreign = findings.find((f) => f.kind === "foreign-mapping")!;
    expect(foreign.instanceIds).toEqual([b, a]);
    expect(foreign.gpa).toBe(`0x${(Math.floor(wb.gpa / PAGE_4K) * PAGE_4K).toString(16)}`);
    expect(foreign.readThrough).toBe("ciphertext");
    // The sample is what B reads: not A's bytes.
    const aPlain = Buffer.from(text("secret of account A")).toString("hex");
    expect(aPlain.startsWith(foreign.sample!)).toBe(false);
    // And B's own read through the bad mapping yields the same noise; A still reads its secret.
    const seen = readGuest(host, enc, b, at, 19, 0)!;
    expect(new TextDecoder().decode(seen.bytes)).not.toBe("secret of account A");
    expect(Buffer.from(seen.bytes.subarray(0, 16)).toString("hex")).toBe(foreign.sample);
    expect(new TextDecoder().decode(readGuest(host, enc, a, at, 19, 0)!.bytes)).toBe("secret of account A");
  });

  it("reports a mapping that reaches a free frame as foreign only", () => {
    const { host, enc, b, wb } = twoTenants();
    // The host's last frame: nobody's.
    const free = host.memory.hostBytes / PAGE_4K - 1;
    expect(host.memory.ownerOf(free * PAGE_4K)).toBeNull();
    repoint(host, b, wb.gpa, free);
    const { checks } = auditHost(host, enc);
    expect(failing(checks)).toEqual(["memory"]);
    const kinds = checks.find((c) => c.check === "memory")!.findings.map((f) => f.kind);
    expect(kinds).toEqual(["foreign-mapping"]);
  });

  it("reports a vCPU pinned to another account's thread as a CPU failure alone", () => {
    const { host, enc, a, b } = twoTenants();
    const vmB = host.vm(b)!;
    const aThreads = host.vm(a)!.instance.threads;
    vmB.instance = { ...vmB.instance, threads: [aThreads[0], ...vmB.instance.threads.slice(1)] };
    const { checks } = auditHost(host, enc);
    expect(failing(checks)).toEqual(["cpu"]);
    const f = checks.find((c) => c.check === "cpu")!.findings;
    expect(f.map((x) => x.kind)).toEqual(["shared-thread"]);
    expect(f[0].thread).toBe(aThreads[0]);
    expect(f[0].instanceIds.sort()).toEqual([a, b].sort());
  });

  it("reports a vCPU on the other thread of another account's core as a shared core", () => {
    const { host, enc, a, b } = twoTenants();
    // m5.large is 2 vCPUs on one core; give B the second thread of A's core only.
    const vmA = host.vm(a)!;
    vmA.instance = { ...vmA.instance, threads: [vmA.instance.threads[0]] };
    const vmB = host.vm(b)!;
    vmB.instance = { ...vmB.instance, threads: [host.vm(a)!.instance.threads[0] + 1] };
    const { checks } = auditHost(host, enc);
    expect(failing(checks)).toEqual(["cpu"]);
    expect(checks.find((c) => c.check === "cpu")!.findings.map((x) => x.kind)).toEqual(["shared-core"]);
  });

  it("reports ciphertext under one VM's key in another VM's frame as an encryption failure alone", () => {
    const { host, enc, a, wb } = twoTenants();
    enc.write(a, Math.floor(wb.hpa / PAGE_4K), 0, text("planted"));
    const { checks } = auditHost(host, enc);
    expect(failing(checks)).toEqual(["encryption"]);
    expect(checks.find((c) => c.check === "encryption")!.findings.map((f) => f.kind)).toEqual([
      "foreign-ciphertext",
    ]);
  });

  it("gives each VM its own key, shows the host only ciphertext, and scrubs a departed VM's frames", () => {
    const { host, enc, a, b, wa } = twoTenants();
    expect(enc.keyIdOf(a)).not.toBe(enc.keyIdOf(b));
    expect(enc.sharedKeys()).toEqual([]);
    const view = enc.hostView(Math.floor(wa.hpa / PAGE_4K))!;
    const plain = text("secret of account A");
    expect(Buffer.from(view).includes(Buffer.from(plain))).toBe(false);
    host.act(a, "terminate", 0);
    host.settle(60_000);
    enc.sync(host.memory.vmIds());
    expect(enc.keyIdOf(a)).toBeNull();
    expect(enc.hostView(Math.floor(wa.hpa / PAGE_4K))).toBeNull();
  });

  it("finds nothing wrong on hosts built by any sequence of launches, writes and terminations", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("launch", "write", "stop"), fc.boolean(), fc.nat({ max: 1023 })), {
          maxLength: 25,
        }),
        (ops) => {
          const host = nitroHost();
          const enc = encryptionFor(host);
          const live: string[] = [];
          let now = 0;
          for (const [op, accountA, n] of ops) {
            now += 1000;
            if (op === "launch" || live.length === 0) {
              live.push(
                launch(
                  host,
                  accountA ? ACCOUNT_A : ACCOUNT_B,
                  "m5.large",
                  n % 2 ? { eptPageSize: "4K" } : {},
                ),
              );
              enc.sync(host.memory.vmIds());
            } else if (op === "write") {
              const id = live[n % live.length];
              writeGuest(
                host,
                enc,
                id,
                { asid: 1, gva: 0x400000 + (n % 64) * PAGE_4K, vcpu: 0 },
                text(`d${n}`),
                now,
              );
            } else {
              const [gone] = live.splice(n % live.length, 1);
              host.act(gone, "terminate", now);
              now += 60_000;
              host.settle(now);
              enc.sync(host.memory.vmIds());
            }
          }
          const { checks } = auditHost(host, enc);
          expect(failing(checks)).toEqual([]);
        },
      ),
      { numRuns: 30 },
    );
  });
});
