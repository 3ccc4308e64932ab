// The one error type the services throw; the API turns it into problem+json.
import type { ContentfulStatusCode } from "hono/utils/http-status";

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const invalidParameter = (field: string, message: string) =>
  new ApiError(400, "InvalidParameterValue", `${field}: ${message}`, { field });

export const instanceNotFound = (id: string) =>
  new ApiError(404, "InvalidInstanceID.NotFound", `The instance ID '${id}' does not exist`, {
    instanceId: id,
  });

export const hostNotFound = (id: string) =>
  new ApiError(404, "InvalidHostID.NotFound", `The host ID '${id}' does not exist`, { hostId: id });
