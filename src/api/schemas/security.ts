// The security model as the API shows it: measured boot and its allow-list, the isolation audit,
// attestation documents and keys, a guest's own data, and the host's (ciphertext) view of a frame.
import { z } from "@hono/zod-openapi";
import {
  ALLOW_LIST_MAX,
  GUEST_DATA_MAX_BASE64,
  GUEST_DATA_MAX_BYTES,
  NONCE_MAX_HEX,
  NONCE_MIN_HEX,
  NONCE_PATTERN,
} from "../../fleet/limits";
import {
  CHECK_NAMES,
  type CheckResult,
  FINDING_KINDS,
  type Finding as FindingT,
  MAX_FINDINGS,
} from "../../sim/security/isolation";
import { BOOT_STAGES, type BootMeasurement as BootMeasurementT } from "../../sim/security/measured-boot";
import { HostId, InstanceId, orNull, Timestamp } from "./common";
import type { Assert, Mirrors } from "./exact";
import { GuestAddress } from "./memory";

const Sha384Hex = z
  .string()
  .length(96)
  .regex(/^[0-9a-f]{96}$/, "must be 96 hex digits (SHA-384)");
const Hex = z
  .string()
  .max(20)
  .regex(/^0x[0-9a-f]+$/, "must be a hex address");
/** Words for people, in printable ASCII. */
const Words = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[\x20-\x7e]*$/, "must be printable ASCII");
const Base64Url = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[A-Za-z0-9_-]*$/, "must be base64url");
const Token = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[a-z0-9][a-z0-9._-]*$/, "must be a lower-case name");
export const BootStageName = z.enum(BOOT_STAGES);

export const BootMeasurement = z
  .object({
    stage: BootStageName,
    name: Token(64),
    version: Token(32),
    digest: Sha384Hex,
    pcr: Sha384Hex,
  })
  .openapi("BootMeasurement");
export type BootMeasurementChecked = Assert<Mirrors<typeof BootMeasurement, BootMeasurementT>>;

export const IsolationFinding = z
  .object({
    kind: z.enum(FINDING_KINDS),
    detail: Words(512),
    instanceIds: z
      .array(
        z
          .string()
          .max(20)
          .regex(/^(i-[0-9a-f]{17}|another-account)$/, "an instance id, or another-account"),
      )
      .max(8),
    resource: orNull(Token(64)),
    expected: orNull(Words(128)),
    found: orNull(Words(128)),
    hpa: orNull(Hex),
    gpa: orNull(Hex),
    thread: orNull(z.number().int()),
    readThrough: orNull(z.enum(["ciphertext", "plaintext", "unwritten"])),
    sample: orNull(
      z
        .string()
        .max(32)
        .regex(/^[0-9a-f]*$/, "hex"),
    ),
  })
  .openapi("IsolationFinding");
export type IsolationFindingChecked = Assert<Mirrors<typeof IsolationFinding, FindingT>>;

export const IsolationCheck = z
  .object({
    check: z.enum(CHECK_NAMES),
    status: z.enum(["pass", "fail", "unavailable"]),
    examined: z.array(z.object({ what: Token(64), count: z.number() })).max(8),
    findings: z.array(IsolationFinding).max(MAX_FINDINGS),
    findingsOmitted: z.number().int(),
  })
  .openapi("IsolationCheck");
export type IsolationCheckChecked = Assert<Mirrors<typeof IsolationCheck, CheckResult>>;

export const IsolationReport = z
  .object({
    hostId: HostId,
    isolated: z.boolean().openapi({ description: "no check failed (unavailable ones are not passes)" }),
    checks: z.array(IsolationCheck).max(CHECK_NAMES.length),
  })
  .openapi("IsolationReport");

export const BootReport = z
  .object({
    hostId: HostId,
    status: z.enum(["trusted", "quarantined"]),
    pcr: Sha384Hex,
    measuredAt: Timestamp,
    measurements: z.array(BootMeasurement).max(8),
    check: IsolationCheck,
  })
  .openapi("BootReport");

export const AllowListEntry = z
  .strictObject({
    stage: BootStageName.exclude(["config"]),
    digest: Sha384Hex,
    description: Words(128).default(""),
  })
  .openapi("AllowListEntryInput");

export const AllowListItem = z
  .object({ stage: BootStageName, digest: Sha384Hex, description: Words(128), addedAt: Timestamp })
  .openapi("AllowListEntry");

export const AllowList = z
  .object({ entries: z.array(AllowListItem).max(ALLOW_LIST_MAX) })
  .openapi("AllowList");

export const AllowListChange = z
  .object({
    entries: z.array(AllowListItem).max(ALLOW_LIST_MAX),
    hostsAttested: z.number().int(),
    quarantinedCount: z.number().int(),
    quarantined: z.array(HostId).max(100),
  })
  .openapi("AllowListChange");

export const AttestationKey = z
  .object({
    hostId: HostId,
    algorithm: z.literal("ES384"),
    publicKey: z
      .object({ kty: z.literal("EC"), crv: z.literal("P-384"), x: Base64Url(64), y: Base64Url(64) })
      .openapi("Es384PublicJwk"),
  })
  .openapi("AttestationKey");

export const Nonce = z
  .string()
  .min(NONCE_MIN_HEX)
  .max(NONCE_MAX_HEX)
  .regex(NONCE_PATTERN, "must be hex, two digits a byte, lower case")
  .openapi({ example: "00112233445566778899aabbccddeeff" });

export const AttestationDocument = z
  .object({
    instanceId: InstanceId,
    hostId: HostId,
    algorithm: z.literal("ES384"),
    document: Base64Url(8192).openapi({ description: "base64url of the exact JSON bytes signed" }),
    signature: Base64Url(128).openapi({
      description: "base64url of r || s (96 bytes), as WebCrypto verifies",
    }),
  })
  .openapi("AttestationDocument");

const GuestAccessFields = {
  address: GuestAddress,
  addressSpace: z.number().int().min(0).max(4095).default(1),
  vcpu: z.number().int().min(0).max(191).default(0),
};

export const GuestDataWrite = z
  .strictObject({
    ...GuestAccessFields,
    data: z
      .string()
      .min(1)
      .max(GUEST_DATA_MAX_BASE64)
      .regex(/^[A-Za-z0-9+/]*={0,2}$/, "must be base64")
      .openapi({
        example: "aGVsbG8=",
        description: `base64, 1 to ${GUEST_DATA_MAX_BYTES} bytes within one page`,
      }),
  })
  .openapi("GuestDataWrite");

export const GuestDataRead = z
  .strictObject({ ...GuestAccessFields, length: z.number().int().min(1).max(GUEST_DATA_MAX_BYTES) })
  .openapi("GuestDataRead");

export const GuestDataWritten = z
  .object({
    instanceId: InstanceId,
    hostId: HostId,
    address: GuestAddress,
    bytes: z.number().int(),
    gpa: Hex,
    hpa: Hex,
  })
  .openapi("GuestDataWritten");

export const GuestData = z
  .object({
    instanceId: InstanceId,
    hostId: HostId,
    address: GuestAddress,
    gpa: Hex,
    hpa: Hex,
    data: z
      .string()
      .max(GUEST_DATA_MAX_BASE64)
      .regex(/^[A-Za-z0-9+/]*={0,2}$/, "base64")
      .openapi({ description: "base64, decrypted with the VM's key" }),
  })
  .openapi("GuestData");

export const HostFrame = z
  .object({
    hostId: HostId,
    hpa: Hex,
    ownerId: orNull(InstanceId),
    keyId: orNull(z.number().int()),
    encrypted: z.boolean(),
    ciphertext: orNull(Base64Url(5462)).openapi({
      description: "base64url of the frame as the host's memory holds it",
    }),
  })
  .openapi("HostFrame");
