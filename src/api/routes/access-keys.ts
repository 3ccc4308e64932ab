// Access keys for the EC2 Query API (`POST /`): an account makes them, lists them and
// deactivates them. A new key's secret is in the answer that creates it and nowhere else.
import { createRoute } from "@hono/zod-openapi";
import { createAccessKey, listAccessKeys, revokeAccessKey } from "../../fleet/access-keys";
import { fleetOf } from "../auth";
import { router } from "../router";
import {
  AccessKey,
  AccessKeyList,
  AccessKeyParam,
  AccountParam,
  NewAccessKey,
  problemResponses,
} from "../schemas";

export const accessKeyRoutes = router()
  .openapi(
    createRoute({
      method: "post",
      path: "/accounts/{id}/access-keys",
      tags: ["accounts"],
      summary: "Create an access key for the EC2 Query API; the answer holds its secret, shown once",
      request: { params: AccountParam },
      responses: {
        201: { description: "The new access key", content: { "application/json": { schema: NewAccessKey } } },
        ...problemResponses(400, 404, 409),
      },
    }),
    async (c) => c.json(await createAccessKey(fleetOf(c), c.req.valid("param").id), 201),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/accounts/{id}/access-keys",
      tags: ["accounts"],
      summary: "The account's access keys, inactive ones included (never their secrets)",
      request: { params: AccountParam },
      responses: {
        200: { description: "The access keys", content: { "application/json": { schema: AccessKeyList } } },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await listAccessKeys(fleetOf(c), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/access-keys/{accessKeyId}",
      tags: ["accounts"],
      summary: "Deactivate an access key: from the next request on, its signatures are refused",
      request: { params: AccessKeyParam },
      responses: {
        200: { description: "The deactivated key", content: { "application/json": { schema: AccessKey } } },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await revokeAccessKey(fleetOf(c), c.req.valid("param").accessKeyId), 200),
  );
