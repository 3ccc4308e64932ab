// Attestation: an instance's owner asks for a document signed by its host's key, binding what the
// host measured at boot to the instance and the owner's nonce; the host's public key is published
// so the owner can verify with WebCrypto alone.
import { ATTESTATION_ALGORITHM } from "../sim/security/attestation";
import type { Fleet } from "./context";
import { ApiError } from "./errors";
import { requireHostRow } from "./hosts";
import { hostedRow } from "./instance-telemetry";
import { mirrorApplied } from "./mirror";

export async function hostAttestationKey(fleet: Fleet, hostId: string) {
  await requireHostRow(fleet, hostId);
  const jwk = await fleet.host(hostId).attestationKey();
  if (!jwk?.x || !jwk.y) throw new ApiError(409, "IncorrectHostState", `The host '${hostId}' has no key yet`);
  return {
    hostId,
    algorithm: ATTESTATION_ALGORITHM,
    publicKey: { kty: "EC" as const, crv: "P-384" as const, x: jwk.x, y: jwk.y },
  };
}

export async function attestInstance(fleet: Fleet, id: string, nonce: string) {
  const { hostId } = await hostedRow(fleet, id, "only a running instance's host can attest it");
  const res = await fleet.host(hostId).attest(id, nonce, await fleet.clock());
  await mirrorApplied(fleet.db, res.events);
  if (!res.result)
    throw new ApiError(409, "IncorrectInstanceState", `The instance '${id}' has left its host`);
  return { instanceId: id, hostId, algorithm: ATTESTATION_ALGORITHM, ...res.result };
}
