import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeWorkload,
  encodeWorkload,
  type InstanceRow,
  recordToRow,
  rowToRecord,
} from "../../../src/fleet/instance-rows";
import { FAMILIES, VIRTUALIZATION_TYPES } from "../../../src/sim/catalog";
import { PROFILE_NAMES, type WorkloadSpec } from "../../../src/sim/cpu";
import { INSTANCE_STATES, STATE_CODES } from "../../../src/sim/lifecycle";
import type { InstanceRecord, PagingOptions } from "../../../src/sim/records";

const profile = fc.constantFrom(...PROFILE_NAMES);
const custom = fc.record(
  {
    base: profile,
    utilization: fc.double({ min: 0, max: 1, noNaN: true }),
    perBusySecond: fc.record({ syscalls: fc.nat() }, { requiredKeys: [] }),
  },
  { requiredKeys: [] },
);
const workload: fc.Arbitrary<WorkloadSpec> = fc.oneof(profile, custom);

const paging: fc.Arbitrary<PagingOptions> = fc.record(
  {
    mode: fc.constantFrom("ept", "shadow", "direct"),
    guestLevels: fc.constantFrom(4, 5),
    guestPageSize: fc.constantFrom("4K", "2M", "1G"),
    tagged: fc.boolean(),
    pageWalkCache: fc.record({ guest: fc.nat(64), nested: fc.nat(64) }),
  },
  { requiredKeys: [] },
);

const record: fc.Arbitrary<InstanceRecord> = fc
  .record({
    instanceId: fc.string(),
    accountId: fc.option(fc.stringMatching(/^[0-9]{12}$/), { nil: null }),
    reservationId: fc.string(),
    instanceType: fc.string(),
    family: fc.constantFrom(...FAMILIES),
    hypervisor: fc.constantFrom("nitro", "xen", "type2"),
    virtualizationType: fc.constantFrom(...VIRTUALIZATION_TYPES),
    zone: fc.string(),
    hostId: fc.option(fc.string(), { nil: null }),
    state: fc.constantFrom(...INSTANCE_STATES),
    version: fc.nat(),
    launchTime: fc.nat(),
    stateTransitionTime: fc.nat(),
    stateReason: fc.string(),
    clientToken: fc.option(fc.string(), { nil: null }),
    tags: fc.dictionary(fc.string({ minLength: 1 }), fc.string()),
    workload,
    placementStrategy: fc.constantFrom("binpack", "spread"),
    paging,
    vcpus: fc.integer({ min: 1, max: 96 }),
    memoryMiB: fc.nat(),
    nvmeGB: fc.nat(),
    threads: fc.array(fc.nat(191)),
    terminatedAt: fc.option(fc.nat(), { nil: null }),
  })
  .map((r) => ({ ...r, stateCode: STATE_CODES[r.state] }));

describe("instance rows", () => {
  it("reads back every record it writes, whatever its workload, tags and paging", () => {
    fc.assert(
      fc.property(record, (rec) => {
        // The launch writes tenancy and host affinity itself (launch.ts); no record carries them.
        const row: InstanceRow = { ...recordToRow(rec), tenancy: "default", hostAffinity: null };
        expect(rowToRecord(row)).toEqual(rec);
      }),
    );
  });

  it("stores a profile by its name and a custom profile as JSON, so rows written before read the same", () => {
    expect(encodeWorkload("io_intensive")).toBe("io_intensive");
    expect(decodeWorkload("io_intensive")).toBe("io_intensive");
    const spec: WorkloadSpec = { base: "idle", utilization: 0.5 };
    expect(JSON.parse(encodeWorkload(spec))).toEqual(spec);
    expect(decodeWorkload('{"base":"idle","utilization":0.5}')).toEqual(spec);
  });
});
