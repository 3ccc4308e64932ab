import { createRoute, z } from "@hono/zod-openapi";
import {
  addRules,
  createSecurityGroup,
  describeSecurityGroup,
  listSecurityGroups,
  removeRule,
} from "../../fleet/security-groups";
import { fleetOf } from "../auth";
import { router } from "../router";
import {
  AddRules,
  CreateSecurityGroup,
  Limit,
  problemResponses,
  RuleId,
  SecurityGroup,
  SecurityGroupId,
  SecurityGroupPage,
  VpcId,
} from "../schemas";

const GroupParam = z.object({ id: SecurityGroupId.openapi({ param: { name: "id", in: "path" } }) });
const groupAnswer = {
  200: { description: "The group and its rules", content: { "application/json": { schema: SecurityGroup } } },
};

export const securityGroupRoutes = router()
  .openapi(
    createRoute({
      method: "post",
      path: "/security-groups",
      tags: ["network"],
      summary: "Create a security group: all traffic out allowed, nothing in",
      request: { body: { content: { "application/json": { schema: CreateSecurityGroup } }, required: true } },
      responses: {
        201: { description: "The group", content: { "application/json": { schema: SecurityGroup } } },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await createSecurityGroup(fleetOf(c), c.req.valid("json")), 201),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/security-groups",
      tags: ["network"],
      summary: "List security groups with their rules",
      request: {
        query: z.strictObject({ vpcId: VpcId.optional(), cursor: SecurityGroupId.optional(), limit: Limit }),
      },
      responses: {
        200: {
          description: "A page of groups",
          content: { "application/json": { schema: SecurityGroupPage } },
        },
        ...problemResponses(400),
      },
    }),
    async (c) => c.json(await listSecurityGroups(fleetOf(c), c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/security-groups/{id}",
      tags: ["network"],
      summary: "One security group with its rules",
      request: { params: GroupParam },
      responses: { ...groupAnswer, ...problemResponses(400, 404) },
    }),
    async (c) => c.json(await describeSecurityGroup(fleetOf(c), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/security-groups/{id}/rules",
      tags: ["network"],
      summary: "Add allow rules, inbound or outbound, all or none",
      request: {
        params: GroupParam,
        body: { content: { "application/json": { schema: AddRules } }, required: true },
      },
      responses: { ...groupAnswer, ...problemResponses(400, 404) },
    }),
    async (c) => c.json(await addRules(fleetOf(c), c.req.valid("param").id, c.req.valid("json").rules), 200),
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/security-groups/{id}/rules/{ruleId}",
      tags: ["network"],
      summary: "Remove a rule; flows it let through stay tracked until they idle out",
      request: {
        params: GroupParam.extend({ ruleId: RuleId.openapi({ param: { name: "ruleId", in: "path" } }) }),
      },
      responses: { ...groupAnswer, ...problemResponses(400, 404) },
    }),
    async (c) => {
      const p = c.req.valid("param");
      return c.json(await removeRule(fleetOf(c), p.id, p.ruleId), 200);
    },
  );
