// DescribeInstanceTypes over the fleet's catalog (sim/catalog.ts), in EC2's shape and with
// its filter names (Amazon EC2 API Reference, DescribeInstanceTypes).
import { INSTANCE_TYPES, type InstanceType } from "../../../sim/catalog";
import { type Action, ready, THREADS_PER_CORE } from "../context";
import { invalidValue, QueryError } from "../query";

/**
 * m3 is the one family AWS lists among its previous-generation instances ("Amazon EC2
 * previous generation instances"); c4, m4 and r4 are still current generation in the API.
 */
const currentGeneration = (t: InstanceType) => t.family !== "m3";

/** ENA is required on Nitro, supported on the Xen types that had it, and absent elsewhere. */
const enaSupport = (t: InstanceType) =>
  t.enhancedNetworking !== "ena" ? "unsupported" : t.hypervisor === "nitro" ? "required" : "supported";

/** EC2's filter values may hold `*` (any characters) and `?` (one character). */
export function wildcard(pattern: string): (value: string) => boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replaceAll("*", ".*")
      .replaceAll("?", ".")}$`,
    "s",
  );
  return (value) => re.test(value);
}

const FILTERS: Record<string, (t: InstanceType) => string | string[]> = {
  "instance-type": (t) => t.name,
  hypervisor: (t) => t.hypervisor,
  "current-generation": (t) => String(currentGeneration(t)),
  "vcpu-info.default-vcpus": (t) => String(t.vcpus),
  "memory-info.size-in-mib": (t) => String(t.memoryMiB),
  "instance-storage-supported": (t) => String(t.instanceStorage.totalGB > 0),
  "supported-virtualization-type": (t) => [...t.virtualizationTypes],
  "network-info.ena-support": enaSupport,
  "processor-info.supported-architecture": () => "x86_64",
};

function typeItem(t: InstanceType) {
  const storage = t.instanceStorage;
  return {
    instanceType: t.name,
    currentGeneration: currentGeneration(t),
    freeTierEligible: false,
    supportedUsageClasses: ["on-demand"],
    supportedRootDeviceTypes: ["ebs"],
    supportedVirtualizationTypes: [...t.virtualizationTypes],
    bareMetal: false,
    hypervisor: t.hypervisor,
    processorInfo: { supportedArchitectures: ["x86_64"] },
    vCpuInfo: {
      defaultVCpus: t.vcpus,
      defaultCores: t.vcpus / THREADS_PER_CORE,
      defaultThreadsPerCore: THREADS_PER_CORE,
    },
    memoryInfo: { sizeInMiB: t.memoryMiB },
    instanceStorageSupported: storage.totalGB > 0,
    instanceStorageInfo:
      storage.totalGB > 0
        ? {
            totalSizeInGB: storage.totalGB,
            disks: [{ sizeInGB: storage.diskGB, count: storage.disks, type: "ssd" }],
            nvmeSupport: storage.nvme ? "required" : "unsupported",
          }
        : undefined,
    ebsInfo: {
      ebsOptimizedSupport: "default",
      ebsOptimizedInfo: {
        baselineBandwidthInMbps: t.ebsBaselineMbps,
        baselineIops: t.ebsBaselineIops,
        maximumBandwidthInMbps: t.ebsBurstMbps,
        maximumIops: t.ebsBurstIops,
      },
      nvmeSupport: t.hypervisor === "nitro" ? "required" : "unsupported",
    },
    networkInfo: { networkPerformance: t.networkPerformance, enaSupport: enaSupport(t) },
  };
}

export const describeInstanceTypes: Action = async (ctx) => {
  const { q } = ctx;
  const names = q.list("InstanceType", 100);
  const filters = q.filters((n) => Object.hasOwn(FILTERS, n));
  // DescribeInstanceTypes pages 5 to 100 at a time.
  const { maxResults, nextToken } = q.paging(5, 100);
  const after = nextToken === undefined ? -1 : INSTANCE_TYPES.findIndex((t) => t.name === nextToken);
  if (nextToken !== undefined && after < 0) throw invalidValue("NextToken", "not a token this endpoint gave");
  ready(ctx, q.bool("DryRun"));
  for (const n of names) {
    if (!INSTANCE_TYPES.some((t) => t.name === n)) {
      throw new QueryError(
        "InvalidInstanceType",
        `The following supplied instance types do not exist: [${n.slice(0, 64)}]`,
      );
    }
  }
  const matchers = [...filters].map(([name, values]) => ({ get: FILTERS[name], any: values.map(wildcard) }));
  const matching = INSTANCE_TYPES.map((t, index) => ({ t, index })).filter(
    ({ t }) =>
      (names.length === 0 || names.includes(t.name)) &&
      matchers.every((m) => {
        const got = m.get(t);
        return (Array.isArray(got) ? got : [got]).some((v) => m.any.some((match) => match(v)));
      }),
  );
  const rest = matching.filter(({ index }) => index > after);
  const limit = maxResults ?? 100;
  const page = rest.slice(0, limit);
  return {
    instanceTypeSet: page.map(({ t }) => typeItem(t)),
    nextToken: rest.length > limit ? page[page.length - 1].t.name : undefined,
  };
};
