// The one error envelope: RFC 9457 problem details with an EC2-style `code`, and the named
// members some problems add (the field at fault, the instance, the zones that have capacity).
import { z } from "@hono/zod-openapi";
import { INSTANCE_STATES, type InstanceAction } from "../../sim/lifecycle";
import { ClientToken, HostId, InstanceId, InstanceTypeName, text, Zone } from "./common";
import type { Assert, Same } from "./exact";

export const MAX_DETAIL = 4096;
export const MAX_FIELDS = 50;
export const MAX_FIELD_PATH = 256;
export const MAX_ZONES = 100;

const Code = z
  .string()
  .max(64)
  .regex(/^[A-Z][A-Za-z0-9]*(\.[A-Z][A-Za-z0-9]*)?$/, "an EC2-style error code")
  .openapi({ example: "InvalidParameterValue" });

/** Where the input was wrong: `body.tags.app`, `query.limit`, `path.id`; user keys included, so free text. */
const FieldPath = text(MAX_FIELD_PATH);

const Action = z.enum(["start", "stop", "reboot", "terminate"]);
export type ActionChecked = Assert<Same<z.output<typeof Action>, InstanceAction>>;

/** The members a problem may add to the RFC's five; problem() sends no others. */
export const ProblemExtras = z.object({
  field: FieldPath.optional(),
  fields: z.array(FieldPath).max(MAX_FIELDS).optional(),
  instanceId: InstanceId.optional(),
  hostId: HostId.optional(),
  instanceType: InstanceTypeName.optional(),
  zonesWithCapacity: z.array(Zone).max(MAX_ZONES).optional(),
  /** The placement group whose rule a launch could not keep. */
  placementGroup: z
    .string()
    .max(255)
    .regex(/^[\x20-\x7e]+$/)
    .optional(),
  clientToken: ClientToken.optional(),
  state: z
    .string()
    .max(32)
    .regex(new RegExp(`^(${INSTANCE_STATES.join("|")})(, changing)?$`))
    .optional(),
  action: Action.optional(),
  migrationId: z
    .string()
    .max(21)
    .regex(/^mig-[0-9a-f]{17}$/)
    .optional(),
  migrationStatus: z
    .enum(["setup", "active", "postcopy-active", "device", "completed", "failed", "cancelled"])
    .optional(),
});

export const Problem = z
  .object({
    type: z
      .string()
      .max(128)
      .regex(/^https:\/\/hyperfleet\.dev\/errors\/[A-Za-z0-9.]+$/),
    title: Code,
    status: z.number().int().min(400).max(599),
    code: Code,
    detail: text(MAX_DETAIL),
  })
  .extend(ProblemExtras.shape)
  .openapi("Problem");

export const problemResponses = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((s) => [
      s,
      {
        description: "Problem details (RFC 9457)",
        content: { "application/problem+json": { schema: Problem } },
      },
    ]),
  );
