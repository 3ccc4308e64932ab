// Accounts and API keys: the admin creates accounts; a tenant names itself and manages
// its own keys. A new key's secret is in the answer that creates it and nowhere else.
import { createRoute, z } from "@hono/zod-openapi";
import { addKey, createAccount, listKeys, revokeKey, whoAmI } from "../../fleet/accounts";
import { fleetOf } from "../auth";
import { router } from "../router";
import {
  AccountParam,
  ApiKey,
  Caller,
  KeyList,
  KeyParam,
  Name,
  NewAccount,
  NewApiKey,
  problemResponses,
} from "../schemas";

export const accountRoutes = router()
  .openapi(
    createRoute({
      method: "post",
      path: "/accounts",
      tags: ["accounts"],
      summary: "Create an account (admin); the answer holds its first key, shown once",
      request: {
        body: {
          content: {
            "application/json": {
              schema: z
                .strictObject({ name: Name.openapi({ example: "team-web" }) })
                .openapi("CreateAccount"),
            },
          },
          required: true,
        },
      },
      responses: {
        201: {
          description: "The account and its first key",
          content: {
            "application/json": {
              schema: NewAccount,
            },
          },
        },
        ...problemResponses(400),
      },
    }),
    async (c) => c.json(await createAccount(fleetOf(c), c.req.valid("json")), 201),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/accounts/me",
      tags: ["accounts"],
      summary: "Who the key is: the admin, or an account and the key's id",
      responses: {
        200: {
          description: "The caller",
          content: {
            "application/json": {
              schema: Caller,
            },
          },
        },
      },
    }),
    async (c) => c.json(await whoAmI(fleetOf(c)), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/accounts/{id}/keys",
      tags: ["accounts"],
      summary: "The account's keys, revoked ones included (never their secrets)",
      request: { params: AccountParam },
      responses: {
        200: {
          description: "The keys",
          content: { "application/json": { schema: KeyList } },
        },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await listKeys(fleetOf(c), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/accounts/{id}/keys",
      tags: ["accounts"],
      summary: "Add a key to the account; the answer holds it, shown once",
      request: {
        params: AccountParam,
        body: {
          content: {
            "application/json": {
              schema: z.strictObject({ name: Name.default("key").openapi({ example: "ci" }) }),
            },
          },
          required: false,
        },
      },
      responses: {
        201: { description: "The new key", content: { "application/json": { schema: NewApiKey } } },
        ...problemResponses(400, 404, 409),
      },
    }),
    async (c) => {
      const body = c.req.valid("json") as { name?: string } | undefined;
      return c.json(await addKey(fleetOf(c), c.req.valid("param").id, { name: body?.name ?? "key" }), 201);
    },
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/keys/{keyId}",
      tags: ["accounts"],
      summary: "Revoke a key: from the next request on, it is refused",
      request: { params: KeyParam },
      responses: {
        200: { description: "The revoked key", content: { "application/json": { schema: ApiKey } } },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await revokeKey(fleetOf(c), c.req.valid("param").keyId), 200),
  );
