import { createRoute, z } from "@hono/zod-openapi";
import { ALLOW_LIST_MAX } from "../../fleet/limits";
import { attestInstance, hostAttestationKey } from "../../fleet/security-attestation";
import {
  hostBoot,
  readAllowList,
  reattestHost,
  replaceAllowList,
  tamperHost,
} from "../../fleet/security-boot";
import { hostFrame, readGuestData, writeGuestData } from "../../fleet/security-guest-data";
import { hostIsolation } from "../../fleet/security-isolation";
import { fleetOf } from "../auth";
import { router } from "../router";
import {
  AllowList,
  AllowListChange,
  AllowListEntry,
  AttestationDocument,
  AttestationKey,
  BootReport,
  BootStageName,
  GuestData,
  GuestDataRead,
  GuestDataWrite,
  GuestDataWritten,
  HostFrame,
  HostIdParam,
  InstanceIdParam,
  IsolationReport,
  Nonce,
  problemResponses,
} from "../schemas";

const json = <S extends z.ZodType>(schema: S, description: string) => ({
  description,
  content: { "application/json": { schema } },
});
const body = <S extends z.ZodType>(schema: S) => ({
  body: { content: { "application/json": { schema } }, required: true },
});

export const securityRoutes = router()
  .openapi(
    createRoute({
      method: "get",
      path: "/hosts/{id}/isolation",
      tags: ["security"],
      summary: "Audit a host's isolation: boot, memory, CPU, encryption, network, storage, with evidence",
      request: { params: HostIdParam },
      responses: {
        200: json(IsolationReport, "Each check, what it examined, and its findings"),
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await hostIsolation(fleetOf(c), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/hosts/{id}/boot",
      tags: ["security"],
      summary: "A host's measured boot: each stage's digest, the chain, and the verdict",
      request: { params: HostIdParam },
      responses: {
        200: json(BootReport, "The boot record and its judgement"),
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await hostBoot(fleetOf(c), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/hosts/{id}/attestation-key",
      tags: ["security"],
      summary: "The public key (ES384, JWK) a host signs attestation documents with",
      request: { params: HostIdParam },
      responses: { 200: json(AttestationKey, "The key"), ...problemResponses(400, 404, 409) },
    }),
    async (c) => c.json(await hostAttestationKey(fleetOf(c), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/hosts/{id}/frame",
      tags: ["security"],
      summary: "The host's view of one physical frame (admin): its owner, key slot and ciphertext",
      request: {
        params: HostIdParam,
        query: z.strictObject({
          hpa: z
            .string()
            .max(15)
            .regex(/^0x[0-9a-fA-F]{1,13}$/, "must be a hex address (0x...)")
            .openapi({ example: "0x200000", description: "host-physical address, hex" }),
        }),
      },
      responses: { 200: json(HostFrame, "The frame as the host sees it"), ...problemResponses(400, 404) },
    }),
    async (c) => c.json(await hostFrame(fleetOf(c), c.req.valid("param").id, c.req.valid("query").hpa), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/admin/hosts/{id}/attest",
      tags: ["security"],
      summary: "Judge a host's measured boot against the allow-list again; quarantine it or trust it",
      request: { params: HostIdParam },
      responses: { 200: json(BootReport, "The verdict"), ...problemResponses(400, 404) },
    }),
    async (c) => c.json(await reattestHost(fleetOf(c), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/admin/hosts/{id}/tamper",
      tags: ["security"],
      summary: "Change one stage of a host's boot image and reboot it, to see quarantine happen",
      request: { params: HostIdParam, ...body(z.strictObject({ stage: BootStageName })) },
      responses: {
        200: json(BootReport, "The host's new measurements and verdict"),
        ...problemResponses(400, 404),
      },
    }),
    async (c) =>
      c.json(await tamperHost(fleetOf(c), c.req.valid("param").id, c.req.valid("json").stage), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/admin/boot-allow-list",
      tags: ["security"],
      summary: "The known-good digests of boot stages",
      responses: { 200: json(AllowList, "The allow-list") },
    }),
    async (c) => c.json({ entries: await readAllowList(fleetOf(c)) }, 200),
  )
  .openapi(
    createRoute({
      method: "put",
      path: "/admin/boot-allow-list",
      tags: ["security"],
      summary: "Replace the allow-list and attest every host against it",
      request: body(z.strictObject({ entries: z.array(AllowListEntry).max(ALLOW_LIST_MAX) })),
      responses: {
        200: json(AllowListChange, "The list and the hosts now quarantined"),
        ...problemResponses(400),
      },
    }),
    async (c) => c.json(await replaceAllowList(fleetOf(c), c.req.valid("json").entries), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/instances/{id}/attestation",
      tags: ["security"],
      summary: "An attestation document for the instance, signed by its host's key over the client's nonce",
      request: { params: InstanceIdParam, ...body(z.strictObject({ nonce: Nonce })) },
      responses: {
        200: json(AttestationDocument, "The signed document"),
        ...problemResponses(400, 404, 409),
      },
    }),
    async (c) =>
      c.json(await attestInstance(fleetOf(c), c.req.valid("param").id, c.req.valid("json").nonce), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/instances/{id}/memory/write",
      tags: ["security"],
      summary:
        "Write bytes into the guest's memory at an address (its owner only): stored encrypted under its key",
      request: { params: InstanceIdParam, ...body(GuestDataWrite) },
      responses: {
        200: json(GuestDataWritten, "Where the bytes landed"),
        ...problemResponses(400, 404, 409),
      },
    }),
    async (c) => c.json(await writeGuestData(fleetOf(c), c.req.valid("param").id, c.req.valid("json")), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/instances/{id}/memory/read",
      tags: ["security"],
      summary: "Read bytes of the guest's memory at an address (its owner only), decrypted with its key",
      request: { params: InstanceIdParam, ...body(GuestDataRead) },
      responses: { 200: json(GuestData, "The bytes"), ...problemResponses(400, 404, 409) },
    }),
    async (c) => c.json(await readGuestData(fleetOf(c), c.req.valid("param").id, c.req.valid("json")), 200),
  );
