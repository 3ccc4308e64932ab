// A volume's throughput under a load of large I/Os stays within its type's limits and its instance's EBS
// bandwidth, whichever is lower, and the counters say which held it. Expected rates come from the
// published figures (EBS user guide: gp3 125 MiB/s baseline up to 1,000; io2 Block Express 4,000 MiB/s;
// st1 40 MiB/s per TiB baseline, 250 per TiB burst, 500 at most, 1 TiB of credits per TiB) and the
// catalog's EBS bandwidth per type, not from the model.
import { describe, expect, it } from "vitest";
import { findInstanceType } from "../../src/sim/catalog";
import { advance, bearer, call, newTenant, type Problem } from "./helpers";
import { attached, newVolume, storageZone } from "./storage-helpers";

const MIB = 1024 * 1024;

interface Load {
  ios: number;
  operations: number;
  bytes: number;
  spanMs: number;
  iops: number;
  throughputMiBps: number;
  limits: { volumeMiBps: number; volumeBurstMiBps: number | null; instanceMiBps: number };
  heldBy: Record<string, number>;
  boundBy: string | null;
  burstBalancePct: number | null;
  counters: { ios: number; heldBy: Record<string, number> };
}

const load = (volumeId: string, ioSizeKiB: number, count: number) =>
  call<Load & Problem>("POST", `/v1/volumes/${volumeId}/load`, { ioSizeKiB, count });

/** The instance type's EBS bandwidth in MiB/s (the catalog gives megabits a second). */
const instanceMiBps = (type: string) => (findInstanceType(type)!.ebsBaselineMbps * 1e6) / 8 / MIB;

/** Within 0.1% of `want`: simulated ms near 1.8e12 carry about 0.2 µs of rounding on every I/O. */
function near(got: number, want: number) {
  expect(got).toBeLessThanOrEqual(want * 1.001);
  expect(got).toBeGreaterThan(want * 0.999);
}

describe("volume throughput under load", () => {
  it("holds a gp3 volume to its 125 MiB/s baseline when the instance allows more, and says so", async () => {
    const { zone, instanceId } = await storageZone("m5", "m5.4xlarge");
    expect(instanceMiBps("m5.4xlarge")).toBeGreaterThan(125);
    const v = await attached(zone, instanceId);
    const r = await load(v.volumeId, 256, 2000);
    expect(r.status).toBe(200);
    near(r.body.throughputMiBps, 125);
    // 256 KiB I/Os: 500 a second, far under the volume's 3,000 IOPS; the bytes bind.
    near(r.body.iops, 500);
    expect(r.body.boundBy).toBe("volume-bytes");
    expect(r.body.heldBy["volume-bytes"]).toBe(1999);
    const io = await call<{ ios: number; bytes: number; heldBy: Record<string, number> }>(
      "GET",
      `/v1/volumes/${v.volumeId}/io`,
    );
    expect(io.body.ios).toBe(2000);
    expect(io.body.bytes).toBe(2000 * 256 * 1024);
    expect(io.body.heldBy["volume-bytes"]).toBe(1999);
    expect(io.body.heldBy["instance-bytes"]).toBe(0);
  });

  it("holds a gp3 volume provisioned at 1,000 MiB/s to its instance's EBS bandwidth, the lower of the two", async () => {
    const { zone, instanceId } = await storageZone("m5", "m5.4xlarge");
    const cap = instanceMiBps("m5.4xlarge");
    expect(cap).toBeLessThan(1000);
    const v = await attached(zone, instanceId, { sizeGiB: 8, iops: 4000, throughputMiBps: 1000 });
    const r = await load(v.volumeId, 256, 4000);
    expect(r.status).toBe(200);
    expect(r.body.limits.volumeMiBps).toBe(1000);
    near(r.body.limits.instanceMiBps, cap);
    near(r.body.throughputMiBps, cap);
    expect(r.body.boundBy).toBe("instance-bytes");
    expect(r.body.heldBy["instance-bytes"]).toBe(3999);
  });

  it("counts an I/O past 256 KiB as several operations on an SSD volume, and holds them to its IOPS", async () => {
    const { zone, instanceId } = await storageZone("m5", "m5.4xlarge");
    // 16,000 IOPS and 1,000 MiB/s: 1 MiB I/Os are four operations each.
    const v = await attached(zone, instanceId, { sizeGiB: 40, iops: 4000, throughputMiBps: 1000 });
    const r = await load(v.volumeId, 1024, 500);
    expect(r.body.operations).toBe(2000);
    // 4,000 IOPS over four operations an I/O: 1,000 MiB/s, which the instance's bandwidth holds lower.
    near(r.body.throughputMiBps, Math.min(1000, instanceMiBps("m5.4xlarge")));
  });

  it("holds an io2 volume of 4,000 MiB/s to the largest instance's EBS bandwidth", async () => {
    const { zone, instanceId } = await storageZone("m5", "m5.24xlarge");
    const cap = instanceMiBps("m5.24xlarge");
    const v = await attached(zone, instanceId, { volumeType: "io2", sizeGiB: 100, iops: 64_000 });
    const r = await load(v.volumeId, 256, 8000);
    expect(r.body.limits.volumeMiBps).toBe(4000);
    expect(cap).toBeLessThan(4000);
    near(r.body.throughputMiBps, cap);
    expect(r.body.boundBy).toBe("instance-bytes");
  });

  it("lets an st1 volume burst at 250 MiB/s per TiB until its bucket is spent, then holds it to its 40 per TiB", async () => {
    const { zone, instanceId } = await storageZone("m5", "m5.4xlarge");
    const v = await attached(zone, instanceId, { volumeType: "st1", sizeGiB: 125 });
    const tib = 125 / 1024;
    const P = 250 * tib;
    const R = 40 * tib;
    const B = 1024 * 1024 * tib; // MiB of credits: 1 TiB per TiB
    const small = await load(v.volumeId, 1024, 100);
    expect(small.status).toBe(200);
    expect(small.body.limits.volumeBurstMiBps).toBeCloseTo(P, 9);
    expect(small.body.limits.volumeMiBps).toBeCloseTo(R, 9);
    near(small.body.throughputMiBps, P);
    expect(small.body.boundBy).toBe("volume-burst");
    // 100 MiB at P, earning R meanwhile: the bucket lost 100 × (1 − R/P) MiB.
    const afterSmall = B - 100 * (1 - R / P);
    expect(small.body.burstBalancePct).toBeCloseTo((100 * afterSmall) / B, 6);

    // Enough to spend the rest: the bucket runs dry after B' / (P − R) seconds at P, the rest goes at R.
    await advance(10);
    const n = 160_000;
    const big = await load(v.volumeId, 1024, n);
    expect(big.status).toBe(200);
    expect(big.body.heldBy["volume-burst"]).toBeGreaterThan(0);
    expect(big.body.heldBy["volume-bytes"]).toBeGreaterThan(0);
    expect(big.body.boundBy).toBe("volume-burst");
    expect(big.body.burstBalancePct).toBe(0);
    // What the bucket held when the run began: what the small run left, plus what it earned since.
    const left = Math.min(B, afterSmall + (10 - 100 / P) * R);
    const drainS = left / (P - R);
    const wantS = drainS + (n - P * drainS) / R;
    expect(big.body.spanMs / 1000).toBeCloseTo(wantS, 0);
    // Sustained past the burst: the average sits between the baseline and the burst rate.
    expect(big.body.throughputMiBps).toBeLessThan(P);
    expect(big.body.throughputMiBps).toBeGreaterThan(R);

    // An hour after the queue ran out the bucket holds an hour of baseline credits.
    await advance(Math.ceil(big.body.spanMs / 1000) + 3600);
    const after = await load(v.volumeId, 4, 1);
    expect(after.body.burstBalancePct).toBeGreaterThan((100 * 3600 * R) / B - 0.1);
    expect(after.body.burstBalancePct).toBeLessThan((100 * 3620 * R) / B);
  });

  it("refuses bad loads naming the field, unattached volumes, and other accounts' volumes", async () => {
    const { zone, instanceId } = await storageZone("m5", "m5.large");
    const v = await attached(zone, instanceId);
    for (const [body, field] of [
      [{ ioSizeKiB: 6, count: 1 }, "ioSizeKiB"],
      [{ ioSizeKiB: 2048, count: 1 }, "ioSizeKiB"],
      [{ ioSizeKiB: 4, count: 0 }, "count"],
      [{ ioSizeKiB: 4, count: 2_000_000 }, "count"],
      [{ ioSizeKiB: 4, count: 1, speed: 9 }, "speed"],
    ] as const) {
      const r = await call<Problem>("POST", `/v1/volumes/${v.volumeId}/load`, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(JSON.stringify(r.body), JSON.stringify(body)).toContain(field);
    }
    const loose = (await newVolume(zone)).body.volumeId;
    const unattached = await load(loose, 4, 1);
    expect(unattached.status).toBe(409);
    const other = bearer((await newTenant("load-other")).apiKey);
    const stranger = await call<Problem>(
      "POST",
      `/v1/volumes/${v.volumeId}/load`,
      { ioSizeKiB: 4, count: 1 },
      other,
    );
    expect(stranger.status).toBe(404);
    expect((await call("GET", `/v1/volumes/${v.volumeId}/io`, undefined, other)).status).toBe(404);
  });
});

describe("CreateVolume's client token", () => {
  it("makes one volume for a token used twice with the same parameters, and refuses other parameters", async () => {
    const { zone } = await storageZone("m5", "m5.large");
    const body = { availabilityZone: zone, volumeType: "gp3", sizeGiB: 8, clientToken: "vol-token-1" };
    const first = await call<{ volumeId: string } & Problem>("POST", "/v1/volumes", body);
    expect(first.status).toBe(201);
    const again = await call<{ volumeId: string }>("POST", "/v1/volumes", body);
    expect(again.status).toBe(201);
    expect(again.body.volumeId).toBe(first.body.volumeId);
    const other = await call<Problem>("POST", "/v1/volumes", { ...body, sizeGiB: 9 });
    expect(other.status).toBe(409);
    expect(other.body.code).toBe("IdempotentParameterMismatch");
    // Racing calls with one fresh token: one volume, and every answer names it.
    const racing = await Promise.all(
      Array.from({ length: 3 }, () =>
        call<{ volumeId: string }>("POST", "/v1/volumes", { ...body, clientToken: "vol-token-2" }),
      ),
    );
    expect(racing.map((r) => r.status)).toEqual([201, 201, 201]);
    expect(new Set(racing.map((r) => r.body.volumeId)).size).toBe(1);
    const listed = await call<{ volumes: { volumeId: string }[] }>(
      "GET",
      `/v1/volumes?availabilityZone=${zone}&limit=50`,
    );
    expect(listed.body.volumes).toHaveLength(2);
    // Another account's equal token is its own.
    const t = await newTenant("vol-token-other");
    const theirs = await call<{ volumeId: string }>("POST", "/v1/volumes", body, bearer(t.apiKey));
    expect(theirs.status).toBe(201);
    expect(theirs.body.volumeId).not.toBe(first.body.volumeId);
  });
});
