// Scheduled events on instances, as EC2's DescribeInstanceStatus shows them.
import { z } from "@hono/zod-openapi";
import { type eventView, type instanceStatus, SCHEDULED_EVENT_CODES } from "../../fleet/scheduled-events";
import { INSTANCE_STATES } from "../../sim/lifecycle";
import { InstanceId, oneLine, orNull, Timestamp } from "./common";
import type { Assert, Documents } from "./exact";
import { MigrationId } from "./migrations";

export const ScheduleEvent = z
  .strictObject({
    code: z.enum(SCHEDULED_EVENT_CODES),
    notBefore: Timestamp.openapi({ description: "simulated time from which the fleet acts" }),
    notAfter: Timestamp.optional().openapi({ description: "a week after notBefore when absent" }),
  })
  .openapi("ScheduleEvent");

export const ScheduledEvent = z
  .object({
    instanceEventId: z
      .string()
      .max(32)
      .regex(/^instance-event-[0-9a-f]{17}$/),
    code: z.enum(SCHEDULED_EVENT_CODES),
    description: oneLine(256),
    notBefore: Timestamp,
    notAfter: Timestamp,
    state: z
      .string()
      .max(16)
      .openapi({ enum: ["scheduled", "acting", "completed", "failed"] }),
    outcome: orNull(oneLine(1024)),
    migrationId: orNull(MigrationId),
  })
  .openapi("ScheduledEvent");
export type ScheduledEventChecked = Assert<Documents<typeof ScheduledEvent, ReturnType<typeof eventView>>>;

export const InstanceStatus = z
  .object({
    instanceId: InstanceId,
    instanceState: z.object({
      code: z.number().int(),
      name: z
        .string()
        .max(16)
        .openapi({ enum: [...INSTANCE_STATES] }),
    }),
    events: z.array(ScheduledEvent).max(1000),
  })
  .openapi("InstanceStatus");
export type InstanceStatusChecked = Assert<
  Documents<typeof InstanceStatus, Awaited<ReturnType<typeof instanceStatus>>>
>;
