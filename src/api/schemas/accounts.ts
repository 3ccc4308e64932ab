// Accounts and their API keys as the API shows them: ids, names and times, all bounded.
import { z } from "@hono/zod-openapi";
import { MAX_KEYS_PER_ACCOUNT, NAME_MAX_LENGTH } from "../../fleet/limits";
import { Timestamp } from "./common";

export const AccountId = z
  .string()
  .max(12)
  .regex(/^[0-9]{12}$/, "must be 12 digits")
  .openapi({ example: "123456789012" });

export const KeyId = z
  .string()
  .max(21)
  .regex(/^key-[0-9a-f]{17}$/, "must look like key- followed by 17 hex digits")
  .openapi({ example: "key-0123456789abcdef0" });

export const Name = z
  .string()
  .min(1)
  .max(NAME_MAX_LENGTH)
  .regex(/^[\x20-\x7e]+$/, "must be printable ASCII");

export const Account = z
  .object({ accountId: AccountId, name: Name, createdAt: Timestamp })
  .openapi("Account");

export const ApiKey = z
  .object({
    keyId: KeyId,
    accountId: AccountId,
    name: Name,
    createdAt: Timestamp,
    revokedAt: Timestamp.nullable(),
  })
  .openapi("ApiKey");

export const NewApiKey = ApiKey.extend({
  apiKey: z
    .string()
    .max(4 + 17 + 1 + 43)
    .regex(/^hfk_[0-9a-f]{17}_[A-Za-z0-9_-]{43}$/)
    .openapi({
      description: "The key to send as 'Authorization: Bearer <apiKey>'. Shown once: only its hash is kept.",
      example: "hfk_0123456789abcdef0_...",
    }),
}).openapi("NewApiKey");

export const NewAccount = z.object({ account: Account, key: NewApiKey }).openapi("NewAccount");

export const Caller = z
  .object({
    role: z.enum(["admin", "tenant"]),
    account: z.union([Account, z.null()]),
    keyId: KeyId.nullable(),
  })
  .openapi("Caller");

export const KeyList = z.object({ keys: z.array(ApiKey).max(MAX_KEYS_PER_ACCOUNT) }).openapi("KeyList");

export const AccountParam = z.object({ id: AccountId.openapi({ param: { name: "id", in: "path" } }) });
export const KeyParam = z.object({ keyId: KeyId.openapi({ param: { name: "keyId", in: "path" } }) });
