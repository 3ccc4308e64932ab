// Every router of the API is made here, so they all share one validation-error hook.
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Caller } from "../fleet/accounts";
import type { ClockState } from "../sim/clock";
import { describeIssues, problem } from "./problem";

/** Set by the auth middleware (auth.ts) on every /v1 route: the caller, and the clock if read with its key. */
export type AppEnv = { Bindings: Env; Variables: { caller: Caller; clock: ClockState | null } };

export function router() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const { detail, fields } = describeIssues(result.target, result.error.issues);
        return problem(c, 400, "InvalidParameterValue", detail, { fields });
      }
    },
  });
}
