import { createRoute, z } from "@hono/zod-openapi";
import { MIGRATION_PAGE_MAX } from "../../fleet/limits";
import { cancelMigration, describeMigration, listMigrations, startMigration } from "../../fleet/migrations";
import { fleetOf } from "../auth";
import { router } from "../router";
import {
  InstanceId,
  InstanceIdParam,
  Migration,
  MigrationId,
  MigrationIdParam,
  MigrationPage,
  MigrationStatus,
  problemResponses,
  StartMigration,
} from "../schemas";

export const migrationRoutes = router()
  .openapi(
    createRoute({
      method: "post",
      path: "/instances/{id}/migrate",
      tags: ["migrations"],
      summary: "Live-migrate a running instance to another host of its family; the steps run on a queue",
      request: {
        params: InstanceIdParam,
        body: { content: { "application/json": { schema: StartMigration } }, required: true },
      },
      responses: {
        202: {
          description: "The migration, accepted",
          content: { "application/json": { schema: Migration } },
        },
        ...problemResponses(400, 404, 409),
      },
    }),
    async (c) => c.json(await startMigration(fleetOf(c), c.req.valid("param").id, c.req.valid("json")), 202),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/migrations",
      tags: ["migrations"],
      summary: "Migrations in order of id, a page at a time",
      request: {
        query: z.strictObject({
          instanceId: InstanceId.optional(),
          status: MigrationStatus.optional(),
          cursor: MigrationId.optional().openapi({ description: "the nextCursor of the previous page" }),
          limit: z.coerce.number().int().min(1).max(MIGRATION_PAGE_MAX).default(20),
        }),
      },
      responses: {
        200: {
          description: "A page of migrations",
          content: { "application/json": { schema: MigrationPage } },
        },
        ...problemResponses(400),
      },
    }),
    async (c) => c.json(await listMigrations(fleetOf(c), c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/migrations/{id}",
      tags: ["migrations"],
      summary: "One migration, shaped like QEMU's query-migrate, with its pre-copy rounds",
      request: { params: MigrationIdParam },
      responses: {
        200: { description: "The migration", content: { "application/json": { schema: Migration } } },
        ...problemResponses(400, 404),
      },
    }),
    async (c) => c.json(await describeMigration(fleetOf(c), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/migrations/{id}/cancel",
      tags: ["migrations"],
      summary: "Cancel a migration before its switch; the instance stays on its source",
      request: { params: MigrationIdParam },
      responses: {
        200: {
          description: "The migration, cancelled",
          content: { "application/json": { schema: Migration } },
        },
        ...problemResponses(400, 404, 409),
      },
    }),
    async (c) => c.json(await cancelMigration(fleetOf(c), c.req.valid("param").id), 200),
  );
