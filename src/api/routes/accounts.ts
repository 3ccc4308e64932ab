// Accounts and API keys: the admin creates accounts; a tenant names itself and manages
// its own keys. A new key's secret is in the answer that creates it and nowhere else.
import { createRoute, z } from "@hono/zod-openapi";
import { addKey, createAccount, listKeys, revokeKey, whoAmI } from "../../fleet/accounts";
import { fleetOf } from "../auth";
import { router } from "../router";
import { problemResponses } from "../schemas";

const AccountId = z
  .string()
  .regex(/^[0-9]{12}$/, "must be 12 digits")
  .openapi({ example: "123456789012" });
const KeyId = z
  .string()
  .regex(/^key-[0-9a-f]{17}$/, "must look like key- followed by 17 hex digits")
  .openapi({ example: "key-0123456789abcdef0" });
const Name = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[\x20-\x7e]+$/, "must be printable ASCII");

const Account = z
  .object({ accountId: AccountId, name: z.string(), createdAt: z.string() })
  .openapi("Account");

const ApiKey = z
  .object({
    keyId: KeyId,
    accountId: AccountId,
    name: z.string(),
    createdAt: z.string(),
    revokedAt: z.string().nullable(),
  })
  .openapi("ApiKey");

const NewApiKey = ApiKey.extend({
  apiKey: z.string().openapi({
    description: "The key to send as 'Authorization: Bearer <apiKey>'. Shown once: only its hash is kept.",
    example: "hfk_0123456789abcdef0_...",
  }),
}).openapi("NewApiKey");

const AccountParam = z.object({ id: AccountId.openapi({ param: { name: "id", in: "path" } }) });
const KeyParam = z.object({ keyId: KeyId.openapi({ param: { name: "keyId", in: "path" } }) });

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
              schema: z.object({ account: Account, key: NewApiKey }).openapi("NewAccount"),
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
              schema: z
                .object({
                  role: z.enum(["admin", "tenant"]),
                  account: Account.nullable(),
                  keyId: KeyId.nullable(),
                })
                .openapi("Caller"),
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
          content: { "application/json": { schema: z.object({ keys: z.array(ApiKey) }) } },
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
        ...problemResponses(400, 404),
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
