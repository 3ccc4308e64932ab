// Access keys for the EC2 Query API as the JSON API shows them: the secret only in the
// answer that creates one.
import { z } from "@hono/zod-openapi";
import { MAX_ACCESS_KEYS_PER_ACCOUNT } from "../../fleet/limits";
import { AccountId } from "./accounts";
import { Timestamp } from "./common";

export const AccessKeyId = z
  .string()
  .max(20)
  .regex(/^AKIA[A-Z2-7]{16}$/, "must look like AKIA followed by 16 letters and digits 2-7")
  .openapi({ example: "AKIAIOSFODNN7EXAMPLE" });

export const AccessKey = z
  .object({
    accessKeyId: AccessKeyId,
    accountId: AccountId,
    status: z.enum(["Active", "Inactive"]),
    createdAt: Timestamp,
    revokedAt: Timestamp.nullable(),
  })
  .openapi("AccessKey");

export const NewAccessKey = AccessKey.extend({
  secretAccessKey: z
    .string()
    .length(40)
    .regex(/^[A-Za-z0-9+/]{40}$/)
    .openapi({
      description: "The secret the key signs with (SigV4). Shown once: it is kept only encrypted.",
      example: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    }),
}).openapi("NewAccessKey");

export const AccessKeyList = z
  .object({ accessKeys: z.array(AccessKey).max(MAX_ACCESS_KEYS_PER_ACCOUNT) })
  .openapi("AccessKeyList");

export const AccessKeyParam = z.object({
  accessKeyId: AccessKeyId.openapi({ param: { name: "accessKeyId", in: "path" } }),
});
