// The HTTP API: routers mounted under /v1, one error envelope, OpenAPI 3.1 and docs.
import { HTTPException } from "hono/http-exception";
import { OPERATOR } from "../fleet/accounts";
import { Fleet } from "../fleet/context";
import { seedDemoFleet } from "../fleet/demo";
import { ApiError } from "../fleet/errors";
import { withAccess } from "./access";
import { authenticateRequests } from "./auth";
import { limitBody } from "./body-limit";
import { docs } from "./docs";
import { ec2Endpoint } from "./ec2/endpoint";
import { problem } from "./problem";
import { limitRate } from "./rate-limit";
import { router } from "./router";
import { accessKeyRoutes } from "./routes/access-keys";
import { accountRoutes } from "./routes/accounts";
import { adminRoutes } from "./routes/admin";
import { evacuationRoutes } from "./routes/evacuations";
import { eventRoutes } from "./routes/events";
import { fileSystemRoutes } from "./routes/filesystems";
import { hostRoutes } from "./routes/hosts";
import { instanceStoreRoutes } from "./routes/instance-store";
import { instanceTypes } from "./routes/instance-types";
import { instanceRoutes } from "./routes/instances";
import { memoryRoutes } from "./routes/memory";
import { metricRoutes } from "./routes/metrics";
import { migrationRoutes } from "./routes/migrations";
import { networkAclRoutes } from "./routes/network-acls";
import { networkEventRoutes } from "./routes/network-events";
import { networkInterfaceRoutes } from "./routes/network-interfaces";
import { networkSendRoutes } from "./routes/network-send";
import { placementGroupRoutes } from "./routes/placement-groups";
import { scheduledEventRoutes } from "./routes/scheduled-events";
import { securityRoutes } from "./routes/security";
import { securityGroupRoutes } from "./routes/security-groups";
import { storageNodeRoutes } from "./routes/storage-nodes";
import { subnetRoutes } from "./routes/subnets";
import { subscriptionRoutes } from "./routes/subscriptions";
import { volumeRoutes } from "./routes/volumes";
import { vpcPeeringRoutes } from "./routes/vpc-peerings";
import { vpcRoutes } from "./routes/vpcs";
import { EventEnvelope } from "./schemas";

const MAX_BODY_BYTES = 64 * 1024;

export const app = router();

app.use(
  "*",
  limitBody(
    MAX_BODY_BYTES,
    (c) => problem(c, 413, "RequestTooLarge", `body: larger than ${MAX_BODY_BYTES} bytes`, { field: "body" }),
    (c) => problem(c, 400, "InvalidParameterValue", "body: ended before it was complete", { field: "body" }),
  ),
);

app.use("/v1/*", async (c, next) => {
  // Before authentication: the seed registers the demo tenant's key.
  await seedDemoFleet(new Fleet(c.env, OPERATOR));
  await next();
});
app.use("/v1/*", authenticateRequests(), limitRate());

app.get("/", (c) =>
  c.json({
    name: "hyperfleet",
    api: "/v1",
    openapi: "/openapi.json",
    docs: "/docs",
    health: "/healthz",
    ec2: "POST / (the EC2 Query API, version 2016-11-15, SigV4 with an access key)",
  }),
);
// The EC2 Query API: SigV4-signed, form-encoded, answered in EC2's XML (api/ec2/).
app.post("/", ec2Endpoint);
// The cheapest route there is: the benchmark's measure of the platform's own ceiling.
app.get("/healthz", (c) => c.text("ok"));

app.route("/v1", instanceTypes);
app.route("/v1", hostRoutes);
app.route("/v1", instanceRoutes);
app.route("/v1", memoryRoutes);
app.route("/v1", eventRoutes);
app.route("/v1", adminRoutes);
app.route("/v1", accountRoutes);
app.route("/v1", subscriptionRoutes);
app.route("/v1", metricRoutes);

// What a subscription's URL receives (Standard Webhooks): one event envelope per request.
app.openAPIRegistry.registerWebhook({
  method: "post",
  path: "fleet-event",
  summary: "An event, POSTed to each subscription that wants it, signed as Standard Webhooks specifies",
  description:
    "Headers: webhook-id (the same on every attempt of one delivery), webhook-timestamp (seconds), webhook-signature (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` under each signing secret, space-separated while a rotated secret's grace runs). Any 2xx acknowledges; anything else, or no answer within the timeout, is retried.",
  request: { body: { content: { "application/json": { schema: EventEnvelope } } } },
  responses: { 200: { description: "Acknowledged (any 2xx)" } },
});
app.route("/v1", volumeRoutes);
app.route("/v1", storageNodeRoutes);
app.route("/v1", instanceStoreRoutes);
app.route("/v1", fileSystemRoutes);
app.route("/v1", migrationRoutes);
app.route("/v1", evacuationRoutes);
app.route("/v1", scheduledEventRoutes);
app.route("/v1", accessKeyRoutes);
app.route("/v1", vpcRoutes);
app.route("/v1", subnetRoutes);
app.route("/v1", securityGroupRoutes);
app.route("/v1", vpcPeeringRoutes);
app.route("/v1", networkInterfaceRoutes);
app.route("/v1", networkSendRoutes);
app.route("/v1", networkEventRoutes);
app.route("/v1", securityRoutes);
app.route("/v1", networkAclRoutes);
app.route("/v1", placementGroupRoutes);

let openapi: object | null = null;
app.get("/openapi.json", (c) => {
  openapi ??= withAccess(
    app.getOpenAPI31Document({
      openapi: "3.1.0",
      info: {
        title: "hyperfleet",
        version: "0.1.0",
        description:
          "A simulated EC2-style compute fleet: every host a Durable Object running a hypervisor model. " +
          "Every /v1 operation takes a key: `Authorization: Bearer <key>`.",
      },
    }),
  );
  return c.json(openapi);
});
app.route("/docs", docs);

app.notFound((c) =>
  problem(c, 404, "NotFound", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`),
);

app.onError((err, c) => {
  if (err instanceof ApiError) return problem(c, err.status, err.code, err.message, err.extra, err.headers);
  if (err instanceof HTTPException) {
    const code = err.status === 400 ? "InvalidParameterValue" : `Http${err.status}`;
    const detail = err.message.startsWith("Malformed JSON") ? `body: ${err.message}` : err.message;
    return problem(c, err.status, code, detail);
  }
  console.error("unhandled error", err);
  return problem(
    c,
    500,
    "InternalError",
    "An internal error occurred; the request changed nothing it could not finish",
  );
});
