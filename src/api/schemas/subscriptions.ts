// Webhook subscriptions, their deliveries and each delivery's attempts.
import { z } from "@hono/zod-openapi";
import { EVENT_TYPES } from "../../events/types";
import {
  MAX_SUBSCRIPTION_RESOURCES,
  MAX_SUBSCRIPTION_TYPES,
  RESPONSE_EXCERPT_CHARS,
  ROTATION_GRACE_MAX_SECONDS,
} from "../../fleet/limits";
import { EventId, MAX_PAGE, Timestamp } from "./common";
import { DeliveryId, SubscriptionId, Url, words } from "./metrics-shared";

const prefixes = [...new Set(EVENT_TYPES.map((t) => t.split(".")[0]))];
export const EventTypePattern = z
  .string()
  .max(40)
  .regex(
    new RegExp(`^(\\*|(${prefixes.join("|")})\\.(\\*|[a-z-]+))$`),
    "must be an event type, '*', or a type prefix then '.*'",
  )
  .openapi({ example: "instance.*" });

const ResourceId = z
  .string()
  .max(32)
  .regex(/^(i|h|alarm|sub)-[0-9a-f]{17}$/, "must be an instance, host, alarm or subscription id");

export const CreateSubscription = z
  .strictObject({
    url: Url,
    eventTypes: z
      .array(EventTypePattern)
      .min(1)
      .max(MAX_SUBSCRIPTION_TYPES)
      .openapi({ example: ["instance.*"] }),
    resourceIds: z.array(ResourceId).max(MAX_SUBSCRIPTION_RESOURCES).nullable().optional(),
    enabled: z.boolean().optional(),
  })
  .openapi("CreateSubscription");

export const UpdateSubscription = CreateSubscription.partial().openapi("UpdateSubscription");

export const Subscription = z
  .object({
    subscriptionId: SubscriptionId,
    url: Url,
    eventTypes: z.array(EventTypePattern).max(MAX_SUBSCRIPTION_TYPES),
    resourceIds: z.array(ResourceId).max(MAX_SUBSCRIPTION_RESOURCES).nullable(),
    enabled: z.boolean(),
    disabledReason: words(256).nullable(),
    previousSecretsExpire: z.array(Timestamp).max(64),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .openapi("Subscription");

const SigningSecret = z
  .string()
  .max(64)
  .regex(/^whsec_[A-Za-z0-9+/]{43}=$/, "must look like whsec_ and 32 bytes of base64")
  .openapi({ description: "The signing secret. Shown once: only its sealed form is kept." });

export const NewSubscription = z
  .object({ subscription: Subscription, secret: SigningSecret })
  .openapi("NewSubscription");

export const SubscriptionPage = z
  .object({ subscriptions: z.array(Subscription).max(MAX_PAGE), nextCursor: SubscriptionId.nullable() })
  .openapi("SubscriptionPage");

export const RotateSecret = z
  .strictObject({
    graceSeconds: z
      .number()
      .int()
      .min(0)
      .max(ROTATION_GRACE_MAX_SECONDS)
      .optional()
      .openapi({ description: "how long the old secret keeps signing beside the new one (default 86400)" }),
  })
  .openapi("RotateSecret");

export const DeliveryAttempt = z
  .object({
    attempt: z.number().int(),
    at: Timestamp,
    statusCode: z.number().int().nullable(),
    latencyMs: z.number().int(),
    responseExcerpt: words(RESPONSE_EXCERPT_CHARS).nullable(),
    error: words(256).nullable(),
  })
  .openapi("DeliveryAttempt");

export const Delivery = z
  .object({
    deliveryId: DeliveryId,
    eventId: EventId,
    eventType: z.enum(EVENT_TYPES),
    status: z.enum(["pending", "delivered", "dead"]),
    attempts: z.array(DeliveryAttempt).max(64),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .openapi("Delivery");

export const DeliveryPage = z
  .object({ deliveries: z.array(Delivery).max(MAX_PAGE), nextCursor: DeliveryId.nullable() })
  .openapi("DeliveryPage");
