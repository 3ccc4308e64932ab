// Live migrations as the API shows them: QEMU's query-migrate in camelCase, with the rounds the model ran.
import { z } from "@hono/zod-openapi";
import type { EvacuationView } from "../../fleet/evacuations";
import {
  MIGRATION_BANDWIDTH_MBPS,
  MIGRATION_DOWNTIME_LIMIT_MS,
  MIGRATION_PAGE_MAX,
  MIGRATION_PAGE_WRITES_MAX,
} from "../../fleet/limits";
import type { MigrationView } from "../../fleet/migrations";
import type { PostcopyRecord, RoundRecord } from "../../sim/migration";
import { HostId, InstanceId, oneLine, orNull, Timestamp } from "./common";
import type { Assert, Documents, Mirrors } from "./exact";

export const MigrationId = z
  .string()
  .max(21)
  .regex(/^mig-[0-9a-f]{17}$/, "must be mig- and 17 hex digits")
  .openapi({ example: "mig-0123456789abcdef0" });

export const EvacuationId = z
  .string()
  .max(22)
  .regex(/^evac-[0-9a-f]{17}$/, "must be evac- and 17 hex digits")
  .openapi({ example: "evac-0123456789abcdef0" });

export const MigrationIdParam = z.object({
  id: MigrationId.openapi({ param: { name: "id", in: "path" } }),
});

export const MIGRATION_STATUSES = [
  "setup",
  "active",
  "postcopy-active",
  "device",
  "completed",
  "failed",
  "cancelled",
] as const;
export const MigrationStatus = z.enum(MIGRATION_STATUSES);

export const StartMigration = z
  .strictObject({
    destinationHostId: HostId.optional().openapi({
      description: "the operator's choice of host; placement chooses one of the family when absent",
    }),
    mode: z.enum(["precopy", "postcopy"]).default("precopy"),
    policy: z
      .enum(["xen", "qemu"])
      .optional()
      .openapi({ description: "xc_linux_save's rules on Xen hosts, QEMU's elsewhere, when absent" }),
    bandwidthMbps: z.number().min(MIGRATION_BANDWIDTH_MBPS.min).max(MIGRATION_BANDWIDTH_MBPS.max).optional(),
    downtimeLimitMs: z
      .number()
      .min(MIGRATION_DOWNTIME_LIMIT_MS.min)
      .max(MIGRATION_DOWNTIME_LIMIT_MS.max)
      .optional(),
    autoConverge: z.boolean().optional(),
    postcopyOnNonConvergence: z.boolean().optional(),
    acceptInstanceStoreLoss: z.boolean().optional(),
    guest: z
      .strictObject({
        writableWorkingSetMiB: z
          .number()
          .min(0)
          .max(32 * 1024 * 1024),
        hotPageWritesPerSec: z.number().min(0).max(MIGRATION_PAGE_WRITES_MAX),
        coldPageWritesPerSec: z.number().min(0).max(MIGRATION_PAGE_WRITES_MAX),
      })
      .optional()
      .openapi({ description: "the guest's writes, when known better than its workload profile says" }),
  })
  .openapi("StartMigration");

const Round = z
  .object({
    round: z.number().int(),
    startMs: z.number(),
    durationMs: z.number(),
    pagesSent: z.number(),
    bytesSent: z.number(),
    rateMbps: z.number(),
    dirtyPages: z.number(),
    dirtyPagesRate: z.number(),
    throttlePct: z.number(),
  })
  .openapi("MigrationRound");
export type RoundChecked = Assert<Mirrors<typeof Round, RoundRecord>>;

const Postcopy = z
  .object({
    startMs: z.number(),
    durationMs: z.number(),
    pagesPushed: z.number(),
    pagesRequested: z.number(),
    stallMs: z.number(),
    slowdown: z.number(),
  })
  .openapi("MigrationPostcopy");
export type PostcopyChecked = Assert<Mirrors<typeof Postcopy, PostcopyRecord>>;

export const Migration = z
  .object({
    migrationId: MigrationId,
    instanceId: InstanceId,
    sourceHostId: HostId,
    destinationHostId: orNull(HostId),
    evacuationId: orNull(EvacuationId),
    status: z
      .string()
      .max(32)
      .openapi({ enum: [...MIGRATION_STATUSES] }),
    mode: z.enum(["precopy", "postcopy"]),
    policy: orNull(z.enum(["xen", "qemu"])),
    reason: orNull(
      oneLine(512).openapi({ description: "why it ended as it did, or the stop rule that ended its rounds" }),
    ),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    startedAt: orNull(Timestamp.openapi({ description: "simulated time the rounds began on the source" })),
    switchAt: orNull(
      Timestamp.openapi({
        description: "simulated time the guest resumes on the destination; the switch happens no earlier",
      }),
    ),
    lastPageAt: orNull(
      Timestamp.openapi({
        description:
          "simulated time the migration ends: post-copy's last page arrives (the switch, for a pre-copy); a source that fails before it loses a post-copied guest",
      }),
    ),
    converged: orNull(z.boolean()),
    totalTimeMs: orNull(z.number()),
    setupTimeMs: orNull(z.number()),
    downtimeMs: orNull(z.number()),
    expectedDowntimeMs: orNull(z.number()),
    downtime: orNull(
      z
        .object({
          memoryMs: z.number(),
          stateMs: z.number(),
          pauseResumeMs: z.number(),
          redirectMs: z.number(),
          redirect: z.enum(["unsolicited-arp", "self-announce", "vpc-mapping"]),
        })
        .openapi("MigrationDowntime"),
    ),
    ram: orNull(
      z
        .object({
          transferred: z.number(),
          remaining: z.number(),
          total: z.number(),
          pageSize: z.number(),
          dirtyPagesRate: z.number(),
          pagesPerSecond: z.number(),
          mbps: z.number(),
          dirtySyncCount: z.number(),
          postcopyRequests: z.number(),
        })
        .openapi("MigrationRam"),
    ),
    cpuThrottlePercentage: z.number(),
    postcopy: orNull(Postcopy),
    rounds: z.array(Round).max(200),
  })
  .openapi("Migration");
export type MigrationChecked = Assert<Documents<typeof Migration, MigrationView>>;

export const MigrationPage = z
  .object({ migrations: z.array(Migration).max(MIGRATION_PAGE_MAX), nextCursor: orNull(MigrationId) })
  .openapi("MigrationPage");

export const Evacuation = z
  .object({
    evacuationId: EvacuationId,
    hostId: HostId,
    createdAt: Timestamp,
    total: z.number().int(),
    completed: z.number().int(),
    failed: z.number().int(),
    cancelled: z.number().int(),
    inProgress: z.number().int(),
    done: z.boolean(),
    migrations: z
      .array(
        z
          .object({
            migrationId: MigrationId,
            instanceId: InstanceId,
            status: z
              .string()
              .max(32)
              .openapi({ enum: [...MIGRATION_STATUSES] }),
            destinationHostId: orNull(HostId),
            reason: orNull(oneLine(512)),
          })
          .openapi("EvacuationMigration"),
      )
      .max(10_000),
    skipped: z
      .array(z.object({ instanceId: InstanceId, reason: oneLine(512) }).openapi("EvacuationSkipped"))
      .max(10_000),
    state: z.enum(["starting", "in-progress", "completed", "incomplete"]).openapi({
      description:
        "completed: every instance that was on the host moved; incomplete: all ended and some did not move (notMoved says why)",
    }),
    moved: z
      .array(
        z
          .object({ instanceId: InstanceId, migrationId: MigrationId, destinationHostId: HostId })
          .openapi("EvacuationMoved"),
      )
      .max(10_000),
    notMoved: z
      .array(
        z
          .object({ instanceId: InstanceId, migrationId: orNull(MigrationId), reason: oneLine(512) })
          .openapi("EvacuationNotMoved"),
      )
      .max(10_000),
  })
  .openapi("Evacuation");
export type EvacuationChecked = Assert<Documents<typeof Evacuation, EvacuationView>>;

export const EvacuateHost = z
  .strictObject({
    acceptInstanceStoreLoss: z
      .boolean()
      .optional()
      .openapi({ description: "migrate instances with instance store too, losing its data" }),
  })
  .openapi("EvacuateHost");
