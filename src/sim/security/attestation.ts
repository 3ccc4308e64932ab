// An instance's attestation document: what its host measured at boot, bound to the instance, the
// client's nonce and the time, signed by the host's key with ECDSA P-384 and SHA-384 (ES384, as the
// Nitro Enclaves attestation document is; AWS Nitro Enclaves User Guide, "Attestation process").
// The payload is canonical JSON here rather than CBOR/COSE; a client verifies the signature over
// the exact bytes it was given, then parses them.
import type { BootMeasurement } from "./measured-boot";

export const ATTESTATION_ALGORITHM = "ES384" as const;
/** A nonce is 16 to 512 bytes, hex-encoded; the Nitro Security Module takes up to 512 bytes of nonce. */
export const NONCE_MIN_BYTES = 16;
export const NONCE_MAX_BYTES = 512;

export interface AttestationPayload {
  module: "hyperfleet-host";
  hostId: string;
  instanceId: string;
  nonce: string;
  /** Simulated time the document was made, ms since the epoch. */
  timestamp: number;
  digest: "SHA384";
  /** The boot chain and each stage's measurement. */
  pcr: string;
  measurements: Array<Pick<BootMeasurement, "stage" | "name" | "version" | "digest">>;
}

export function attestationPayload(p: Omit<AttestationPayload, "module" | "digest">): AttestationPayload {
  return {
    module: "hyperfleet-host",
    hostId: p.hostId,
    instanceId: p.instanceId,
    nonce: p.nonce,
    timestamp: p.timestamp,
    digest: "SHA384",
    pcr: p.pcr,
    measurements: p.measurements.map((m) => ({
      stage: m.stage,
      name: m.name,
      version: m.version,
      digest: m.digest,
    })),
  };
}

export const base64url = {
  encode(bytes: Uint8Array): string {
    let s = "";
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  },
  decode(text: string): Uint8Array {
    const b = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
    return Uint8Array.from(b, (c) => c.charCodeAt(0));
  },
};
