// Webhook subscriptions: create (the signing secret shown once), list, get, update, delete,
// rotate the secret; a subscription's deliveries and redelivery of one.
import { createRoute, z } from "@hono/zod-openapi";
import {
  createSubscription,
  deleteSubscription,
  getSubscription,
  listSubscriptions,
  rotateSecret,
  updateSubscription,
} from "../../fleet/subscriptions";
import { listDeliveries, redeliver } from "../../fleet/subscriptions-deliveries";
import { fleetOf } from "../auth";
import { router } from "../router";
import {
  CreateSubscription,
  Delivery,
  DeliveryId,
  DeliveryPage,
  Limit,
  NewSubscription,
  problemResponses,
  RotateSecret,
  Subscription,
  SubscriptionId,
  SubscriptionPage,
  UpdateSubscription,
} from "../schemas";

const Params = z.object({ id: SubscriptionId.openapi({ param: { name: "id", in: "path" } }) });
const DeliveryParams = Params.extend({
  deliveryId: DeliveryId.openapi({ param: { name: "deliveryId", in: "path" } }),
});
const json = <S extends z.ZodType>(schema: S) => ({
  content: { "application/json": { schema } },
  required: true,
});

export const subscriptionRoutes = router()
  .openapi(
    createRoute({
      method: "post",
      path: "/subscriptions",
      tags: ["subscriptions"],
      summary: "Subscribe a URL to events; the answer holds the signing secret, shown once",
      request: { body: json(CreateSubscription) },
      responses: {
        201: {
          description: "The subscription and its secret",
          content: { "application/json": { schema: NewSubscription } },
        },
        ...problemResponses(400),
      },
    }),
    async (c) => c.json(await createSubscription(fleetOf(c), c.req.valid("json")), 201),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/subscriptions",
      tags: ["subscriptions"],
      summary: "The account's subscriptions (never their secrets)",
      request: {
        query: z.strictObject({ cursor: SubscriptionId.optional(), limit: Limit }),
      },
      responses: {
        200: {
          description: "A page of subscriptions",
          content: { "application/json": { schema: SubscriptionPage } },
        },
        ...problemResponses(400),
      },
    }),
    async (c) => c.json(await listSubscriptions(fleetOf(c), c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/subscriptions/{id}",
      tags: ["subscriptions"],
      summary: "One subscription",
      request: { params: Params },
      responses: {
        200: { description: "The subscription", content: { "application/json": { schema: Subscription } } },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await getSubscription(fleetOf(c), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "patch",
      path: "/subscriptions/{id}",
      tags: ["subscriptions"],
      summary: "Change a subscription's URL, event types, resources, or whether it is enabled",
      request: { params: Params, body: json(UpdateSubscription) },
      responses: {
        200: {
          description: "The subscription as changed",
          content: { "application/json": { schema: Subscription } },
        },
        ...problemResponses(400, 404),
      },
    }),
    async (c) =>
      c.json(await updateSubscription(fleetOf(c), c.req.valid("param").id, c.req.valid("json")), 200),
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/subscriptions/{id}",
      tags: ["subscriptions"],
      summary: "Delete a subscription; its pending deliveries are dropped",
      request: { params: Params },
      responses: {
        200: {
          description: "The subscription as it was",
          content: { "application/json": { schema: Subscription } },
        },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => {
      const fleet = fleetOf(c);
      const id = c.req.valid("param").id;
      const was = await getSubscription(fleet, id);
      await deleteSubscription(fleet, id);
      return c.json(was, 200);
    },
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/subscriptions/{id}/rotate-secret",
      tags: ["subscriptions"],
      summary: "A new signing secret, shown once; the old one keeps signing beside it for graceSeconds",
      request: { params: Params, body: { ...json(RotateSecret), required: false } },
      responses: {
        200: {
          description: "The subscription and its new secret",
          content: { "application/json": { schema: NewSubscription } },
        },
        ...problemResponses(400, 404, 409),
      },
    }),
    async (c) => {
      const body = c.req.valid("json") ?? {};
      return c.json(await rotateSecret(fleetOf(c), c.req.valid("param").id, body.graceSeconds), 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/subscriptions/{id}/deliveries",
      tags: ["subscriptions"],
      summary: "The subscription's deliveries with their attempts (status, latency, answer excerpt)",
      request: {
        params: Params,
        query: z.strictObject({
          status: z.enum(["pending", "delivered", "dead"]).optional(),
          cursor: DeliveryId.optional(),
          limit: Limit,
        }),
      },
      responses: {
        200: {
          description: "A page of deliveries",
          content: { "application/json": { schema: DeliveryPage } },
        },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await listDeliveries(fleetOf(c), c.req.valid("param").id, c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/subscriptions/{id}/deliveries/{deliveryId}/redeliver",
      tags: ["subscriptions"],
      summary: "Queue a delivery again, with the same webhook-id and body, for a new round of attempts",
      request: { params: DeliveryParams },
      responses: {
        202: {
          description: "The delivery, queued again",
          content: { "application/json": { schema: Delivery } },
        },
        ...problemResponses(400, 404, 409),
      },
    }),
    async (c) => {
      const { id, deliveryId } = c.req.valid("param");
      return c.json(await redeliver(fleetOf(c), id, deliveryId), 202);
    },
  );
