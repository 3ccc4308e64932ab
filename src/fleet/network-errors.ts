// The network's refusals, with EC2's codes.
import { ApiError } from "./errors";

const notFound = (code: string, what: string, id: string) =>
  new ApiError(404, code, `The ${what} ID '${id}' does not exist`, {});

export const vpcNotFound = (id: string) => notFound("InvalidVpcID.NotFound", "vpc", id);
export const subnetNotFound = (id: string) => notFound("InvalidSubnetID.NotFound", "subnet", id);
export const groupNotFound = (id: string) => notFound("InvalidGroup.NotFound", "security group", id);
export const interfaceNotFound = (id: string) =>
  notFound("InvalidNetworkInterfaceID.NotFound", "network interface", id);
export const peeringNotFound = (id: string) =>
  notFound("InvalidVpcPeeringConnectionID.NotFound", "vpc peering connection", id);

export const aclNotFound = (id: string) => notFound("InvalidNetworkAclID.NotFound", "network ACL", id);
export const aclAssociationNotFound = (id: string) =>
  notFound("InvalidAssociationID.NotFound", "network ACL association", id);

export const quotaExceeded = (code: string, message: string) => new ApiError(400, code, message, {});

/** A D1 unique-index violation: another request took the name, address or pair first. */
export function isUniqueViolation(err: unknown): boolean {
  const text =
    err instanceof Error ? `${err.message} ${String((err as { cause?: unknown }).cause ?? "")}` : "";
  return /UNIQUE constraint failed/i.test(text);
}
