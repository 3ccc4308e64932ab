import { createRoute, z } from "@hono/zod-openapi";
import {
  addEntry,
  associateSubnet,
  createNetworkAcl,
  deleteNetworkAcl,
  describeNetworkAcl,
  listNetworkAcls,
  removeEntry,
} from "../../fleet/network-acls";
import { fleetOf } from "../auth";
import { router } from "../router";
import {
  AddNetworkAclEntry,
  AssociateNetworkAcl,
  CreateNetworkAcl,
  DeletedNetworkAcl,
  Limit,
  NetworkAcl,
  NetworkAclAssociation,
  NetworkAclId,
  NetworkAclPage,
  problemResponses,
  SubnetId,
  VpcId,
} from "../schemas";

const AclParam = z.object({ id: NetworkAclId.openapi({ param: { name: "id", in: "path" } }) });
const aclAnswer = {
  200: {
    description: "The network ACL, its rules and its subnets",
    content: { "application/json": { schema: NetworkAcl } },
  },
};

export const networkAclRoutes = router()
  .openapi(
    createRoute({
      method: "post",
      path: "/network-acls",
      tags: ["network"],
      summary: "Create a network ACL in a VPC: it denies everything until rules are added",
      request: { body: { content: { "application/json": { schema: CreateNetworkAcl } }, required: true } },
      responses: {
        201: { description: "The network ACL", content: { "application/json": { schema: NetworkAcl } } },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await createNetworkAcl(fleetOf(c), c.req.valid("json")), 201),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/network-acls",
      tags: ["network"],
      summary: "List network ACLs, each VPC's default one included",
      request: {
        query: z.strictObject({ vpcId: VpcId.optional(), cursor: NetworkAclId.optional(), limit: Limit }),
      },
      responses: {
        200: {
          description: "A page of network ACLs",
          content: { "application/json": { schema: NetworkAclPage } },
        },
        ...problemResponses(400),
      },
    }),
    async (c) => c.json(await listNetworkAcls(fleetOf(c), c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/network-acls/{id}",
      tags: ["network"],
      summary: "One network ACL",
      request: { params: AclParam },
      responses: { ...aclAnswer, ...problemResponses(400, 404) },
    }),
    async (c) => c.json(await describeNetworkAcl(fleetOf(c), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/network-acls/{id}",
      tags: ["network"],
      summary: "Delete a custom network ACL no subnet is associated with",
      request: { params: AclParam },
      responses: {
        200: {
          description: "The ACL is gone",
          content: { "application/json": { schema: DeletedNetworkAcl } },
        },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await deleteNetworkAcl(fleetOf(c), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/network-acls/{id}/entries",
      tags: ["network"],
      summary: "Add a numbered allow or deny rule; the lowest-numbered matching rule decides",
      request: {
        params: AclParam,
        body: { content: { "application/json": { schema: AddNetworkAclEntry } }, required: true },
      },
      responses: { ...aclAnswer, ...problemResponses(400, 404) },
    }),
    async (c) => c.json(await addEntry(fleetOf(c), c.req.valid("param").id, c.req.valid("json")), 200),
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/network-acls/{id}/entries/{direction}/{ruleNumber}",
      tags: ["network"],
      summary: "Remove a numbered rule",
      request: {
        params: AclParam.extend({
          direction: z.enum(["ingress", "egress"]).openapi({ param: { name: "direction", in: "path" } }),
          ruleNumber: z.coerce
            .number()
            .int()
            .min(1)
            .max(32766)
            .openapi({ param: { name: "ruleNumber", in: "path" } }),
        }),
      },
      responses: { ...aclAnswer, ...problemResponses(400, 404) },
    }),
    async (c) => {
      const p = c.req.valid("param");
      return c.json(await removeEntry(fleetOf(c), p.id, p.direction, p.ruleNumber), 200);
    },
  )
  .openapi(
    createRoute({
      method: "put",
      path: "/subnets/{id}/network-acl",
      tags: ["network"],
      summary: "Associate a subnet with a network ACL of its VPC, replacing its association",
      request: {
        params: z.object({ id: SubnetId.openapi({ param: { name: "id", in: "path" } }) }),
        body: { content: { "application/json": { schema: AssociateNetworkAcl } }, required: true },
      },
      responses: {
        200: {
          description: "The new association",
          content: { "application/json": { schema: NetworkAclAssociation } },
        },
        ...problemResponses(400, 404),
      },
    }),
    async (c) =>
      c.json(
        await associateSubnet(fleetOf(c), c.req.valid("param").id, c.req.valid("json").networkAclId),
        200,
      ),
  );
