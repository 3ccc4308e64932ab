// Measured boot: the chain, the allow-list's verdict, and the migration that seeds the allow-list.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { defaultOptimizations } from "../../../src/sim/cpu";
import { judgeBoot } from "../../../src/sim/security/boot-policy";
import {
  chainHolds,
  configImage,
  extend,
  goldenImages,
  goldenMeasurements,
  measureBoot,
  PCR_RESET,
  sha384,
  tampered,
} from "../../../src/sim/security/measured-boot";

const opts = defaultOptimizations("nitro");

async function golden() {
  const list = await goldenMeasurements();
  const record = await measureBoot(goldenImages("nitro", opts), 0);
  const config = await sha384(configImage("nitro", opts).bytes);
  return { list, record, config };
}

describe("measured boot", () => {
  it("folds each stage into the chain as PCR = SHA-384(PCR || SHA-384(stage))", async () => {
    const images = goldenImages("nitro", opts);
    const record = await measureBoot(images, 0);
    expect(record.measurements.map((m) => m.stage)).toEqual([
      "firmware",
      "nitro-security-chip",
      "hypervisor",
      "config",
    ]);
    // Recomputed here from the definition, with node:crypto as the independent hash.
    const { createHash } = await import("node:crypto");
    let pcr = Buffer.from(PCR_RESET, "hex");
    for (const [i, img] of images.entries()) {
      const digest = createHash("sha384").update(img.bytes).digest();
      pcr = createHash("sha384")
        .update(Buffer.concat([pcr, digest]))
        .digest();
      expect(record.measurements[i].digest).toBe(digest.toString("hex"));
      expect(record.measurements[i].pcr).toBe(pcr.toString("hex"));
    }
    expect(record.pcr).toBe(pcr.toString("hex"));
    expect(await chainHolds(record)).toBe(true);
    expect(await extend(PCR_RESET, record.measurements[0].digest)).toBe(record.measurements[0].pcr);
  });

  it("trusts the release's images on every hypervisor", async () => {
    const list = await goldenMeasurements();
    for (const kind of ["nitro", "xen", "type2"] as const) {
      const o = defaultOptimizations(kind);
      const record = await measureBoot(goldenImages(kind, o), 0);
      const check = judgeBoot(
        record,
        await chainHolds(record),
        list,
        await sha384(configImage(kind, o).bytes),
      );
      expect(check.status, kind).toBe("pass");
    }
  });

  it("fails a tampered stage as an unknown measurement naming the stage, and changes every link after it", async () => {
    const { list, record, config } = await golden();
    const images = goldenImages("nitro", opts).map((i) => (i.stage === "hypervisor" ? tampered(i) : i));
    const bad = await measureBoot(images, 0);
    expect(bad.measurements[0].pcr).toBe(record.measurements[0].pcr);
    expect(bad.measurements[1].pcr).toBe(record.measurements[1].pcr);
    expect(bad.measurements[2].pcr).not.toBe(record.measurements[2].pcr);
    expect(bad.pcr).not.toBe(record.pcr);
    const check = judgeBoot(bad, await chainHolds(bad), list, config);
    expect(check.status).toBe("fail");
    expect(check.findings.map((f) => [f.kind, f.resource])).toEqual([["unknown-measurement", "hypervisor"]]);
    // Allowing the new digest (a new release) makes it pass again.
    const allowed = [...list, { stage: "hypervisor" as const, digest: bad.measurements[2].digest }];
    expect(judgeBoot(bad, true, allowed, config).status).toBe("pass");
  });

  it("fails a configuration other than the one provisioned, and a chain whose links do not follow", async () => {
    const { list, record, config } = await golden();
    const other = await measureBoot(
      goldenImages("nitro", opts).map((i) => (i.stage === "config" ? tampered(i) : i)),
      0,
    );
    expect(judgeBoot(other, true, list, config).findings.map((f) => f.kind)).toEqual(["config-mismatch"]);
    // A forged record: an allowed digest put in place of the measured one, links left as they were.
    const forged = {
      ...record,
      measurements: record.measurements.map((m, i) => (i === 0 ? { ...m, digest: list[3].digest } : m)),
    };
    const ok = await chainHolds(forged);
    expect(ok).toBe(false);
    expect(judgeBoot(forged, ok, list, config).findings.map((f) => f.kind)).toContain("chain-broken");
    expect(judgeBoot(null, false, list, config).findings.map((f) => f.kind)).toEqual(["unmeasured"]);
  });

  it("seeds D1's allow-list with exactly the release's digests (migration 0009)", async () => {
    const sql = readFileSync(new URL("../../../migrations/0009_measured_boot.sql", import.meta.url), "utf8");
    const rows = [...sql.matchAll(/\('([a-z-]+)', '([0-9a-f]{96})', '([^']*)', 0\)/g)].map((m) => ({
      stage: m[1],
      digest: m[2],
      description: m[3],
    }));
    expect(rows).toEqual(await goldenMeasurements());
  });
});
