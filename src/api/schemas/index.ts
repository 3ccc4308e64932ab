// The zod schemas shared by requests, responses and the OpenAPI document, one file per
// concept. Every response is a named component, checked against the type it documents
// (exact.ts, served.ts); every string, array and map in it is bounded.
import { z } from "@hono/zod-openapi";
import { HostId, InstanceId } from "./common";

export * from "./access-keys";
export * from "./accounts";
export * from "./admin";
export * from "./common";
export * from "./cpu";
export * from "./event-envelopes";
export * from "./hosts";
export * from "./instances";
export * from "./memory";
export * from "./metrics";
export * from "./network";
export * from "./problem";
export * from "./security";
export * from "./storage";
export * from "./subscriptions";

export const InstanceIdParam = z.object({
  id: InstanceId.openapi({ param: { name: "id", in: "path" } }),
});

export const HostIdParam = z.object({
  id: HostId.openapi({ param: { name: "id", in: "path" } }),
});
export * from "./migrations";
export * from "./network-acls";
export * from "./placement-groups";
export * from "./scheduled-events";
