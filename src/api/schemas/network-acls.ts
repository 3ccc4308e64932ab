// Network ACLs as the API shows them: numbered rules each way, ending with the "*" rule shown
// as 32767, and the subnets associated with each.
import { z } from "@hono/zod-openapi";
import { MAX_NACL_RULES_PER_DIRECTION, MAX_SUBNETS_PER_VPC } from "../../fleet/limits";
import type {
  addEntry,
  associateSubnet,
  createNetworkAcl,
  deleteNetworkAcl,
  describeNetworkAcl,
  listNetworkAcls,
  removeEntry,
} from "../../fleet/network-acls";
import { CATCH_ALL_RULE_NUMBER, MAX_RULE_NUMBER, MIN_RULE_NUMBER } from "../../sim/network/network-acl";
import { ClientToken, idOf, MAX_PAGE, Timestamp } from "./common";
import type { Assert, Documents } from "./exact";
import { CidrBlock, Protocol, SubnetId, VpcId } from "./network";

export const NetworkAclId = idOf("acl", "acl-0123456789abcdef0");
export const NetworkAclAssociationId = idOf("aclassoc", "aclassoc-0123456789abcdef0");
const Direction = z.enum(["ingress", "egress"]);
const Port = z.number().int().min(0).max(65535);
const RuleAction = z.enum(["allow", "deny"]);
export const RuleNumber = z.number().int().min(MIN_RULE_NUMBER).max(MAX_RULE_NUMBER);

export const NetworkAclEntry = z
  .object({
    ruleNumber: z.number().int().min(MIN_RULE_NUMBER).max(CATCH_ALL_RULE_NUMBER),
    direction: Direction,
    protocol: Protocol,
    fromPort: Port,
    toPort: Port,
    cidrBlock: CidrBlock,
    ruleAction: RuleAction,
  })
  .openapi("NetworkAclEntry");

export const NetworkAcl = z
  .object({
    networkAclId: NetworkAclId,
    vpcId: VpcId,
    isDefault: z.boolean(),
    // Each direction's rules and its "*" rule.
    entries: z.array(NetworkAclEntry).max(2 * (MAX_NACL_RULES_PER_DIRECTION + 1)),
    associations: z
      .array(z.object({ networkAclAssociationId: NetworkAclAssociationId, subnetId: SubnetId }))
      .max(MAX_SUBNETS_PER_VPC),
    createdAt: Timestamp,
  })
  .openapi("NetworkAcl");
export const NetworkAclPage = z
  .object({ networkAcls: z.array(NetworkAcl).max(MAX_PAGE), nextCursor: NetworkAclId.nullable() })
  .openapi("NetworkAclPage");
export const DeletedNetworkAcl = z
  .object({ networkAclId: NetworkAclId, deleted: z.literal(true) })
  .openapi("DeletedNetworkAcl");
export const NetworkAclAssociation = z
  .object({
    networkAclAssociationId: NetworkAclAssociationId,
    subnetId: SubnetId,
    networkAclId: NetworkAclId,
  })
  .openapi("NetworkAclAssociation");

export const CreateNetworkAcl = z
  .strictObject({ vpcId: VpcId, clientToken: ClientToken.optional() })
  .openapi("CreateNetworkAcl");
export const AddNetworkAclEntry = z
  .strictObject({
    ruleNumber: RuleNumber,
    direction: Direction,
    protocol: Protocol,
    fromPort: Port.optional(),
    toPort: Port.optional(),
    cidrBlock: CidrBlock,
    ruleAction: RuleAction,
  })
  .openapi("AddNetworkAclEntry");
export const AssociateNetworkAcl = z
  .strictObject({ networkAclId: NetworkAclId })
  .openapi("AssociateNetworkAcl");

type Answer<F extends (...args: never[]) => unknown> = Awaited<ReturnType<F>>;
export type ServedNetworkAcls = [
  Assert<Documents<typeof NetworkAcl, Answer<typeof createNetworkAcl>>>,
  Assert<Documents<typeof NetworkAcl, Answer<typeof describeNetworkAcl>>>,
  Assert<Documents<typeof NetworkAcl, Answer<typeof addEntry>>>,
  Assert<Documents<typeof NetworkAcl, Answer<typeof removeEntry>>>,
  Assert<Documents<typeof NetworkAclPage, Answer<typeof listNetworkAcls>>>,
  Assert<Documents<typeof DeletedNetworkAcl, Answer<typeof deleteNetworkAcl>>>,
  Assert<Documents<typeof NetworkAclAssociation, Answer<typeof associateSubnet>>>,
];
