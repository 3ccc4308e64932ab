// The one error type the services throw; the API turns it into problem+json.
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { InstanceAction } from "../sim/lifecycle";

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

/**
 * A failure after which the fleet cannot tell what a host did (it did not answer a change):
 * a 500 that says so, rather than one that claims nothing changed. A client token used
 * with it stays taken, so that a retry cannot launch the same instances twice.
 */
export class OutcomeUnknown extends ApiError {
  constructor(hostId: string) {
    super(
      500,
      "InternalError",
      `The host '${hostId}' did not answer, so what it did is unknown: instances offered to it may have launched there, and if they did the inventory shows them shortly`,
      { hostId },
    );
  }
}

/** An error that refused the request before anything changed. */
export const isRefusal = (err: unknown) => err instanceof ApiError && !(err instanceof OutcomeUnknown);

export const invalidParameter = (field: string, message: string) =>
  new ApiError(400, "InvalidParameterValue", `${field}: ${message}`, { field });

/** Runs a model's own check of an input: what the model refuses is a 400 naming the field. */
export function checked<T>(field: string, check: () => T): T {
  try {
    return check();
  } catch (err) {
    throw invalidParameter(field, err instanceof Error ? err.message : String(err));
  }
}

export const instanceNotFound = (id: string) =>
  new ApiError(404, "InvalidInstanceID.NotFound", `The instance ID '${id}' does not exist`, {
    instanceId: id,
  });

const PAST_TENSE: Record<InstanceAction, string> = {
  stop: "stopped",
  start: "started",
  reboot: "rebooted",
  terminate: "terminated",
};

export const incorrectState = (id: string, state: string, action: InstanceAction) =>
  new ApiError(
    409,
    "IncorrectInstanceState",
    `The instance '${id}' is not in a state from which it can be ${PAST_TENSE[action]} (it is ${state})`,
    { instanceId: id, state, action },
  );

export const hostNotFound = (id: string) =>
  new ApiError(404, "InvalidHostID.NotFound", `The host ID '${id}' does not exist`, { hostId: id });
