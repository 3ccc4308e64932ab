// Building blocks of the metrics, alarm and subscription schemas: their ids, names and words.
import { z } from "@hono/zod-openapi";
import { URL_MAX_LENGTH } from "../../fleet/limits";
import { DIMENSIONS, METRIC_NAMES } from "../../host/metrics-catalog";

/** Words for people (reasons, names): bounded, without control characters. */
export const words = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^\P{Cc}*$/u, "must not contain control characters");

export const AlarmId = z
  .string()
  .max(23)
  .regex(/^alarm-[0-9a-f]{17}$/, "must look like alarm- followed by 17 hex digits")
  .openapi({ example: "alarm-0123456789abcdef0" });

export const SubscriptionId = z
  .string()
  .max(21)
  .regex(/^sub-[0-9a-f]{17}$/, "must look like sub- followed by 17 hex digits")
  .openapi({ example: "sub-0123456789abcdef0" });

export const DeliveryId = z
  .string()
  .max(36)
  .regex(/^msg_[0-9a-f]{32}$/, "must look like msg_ followed by 32 hex digits")
  .openapi({ example: "msg_0123456789abcdef0123456789abcdef" });

export const Url = z
  .string()
  .max(URL_MAX_LENGTH)
  .regex(/^https?:\/\/[^\s]+$/, "must be an http or https URL")
  .openapi({ example: "https://hooks.example.com/hyperfleet" });

export const MetricName = z.enum(METRIC_NAMES);

const dimensionValue = z
  .string()
  .max(64)
  .regex(/^[A-Za-z0-9._:-]+$/, "must be letters, digits and . _ : -");

/** A metric's dimensions by name: each optional, none other. */
export const MetricDimensions = z
  .object(
    Object.fromEntries(DIMENSIONS.map((d) => [d, dimensionValue.optional()])) as Record<
      (typeof DIMENSIONS)[number],
      z.ZodOptional<typeof dimensionValue>
    >,
  )
  .strict()
  .openapi("MetricDimensions");
