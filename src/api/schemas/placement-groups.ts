// Placement groups as the API shows them (EC2's DescribePlacementGroups), and a launch's choice of one.
import { z } from "@hono/zod-openapi";
import type {
  createPlacementGroup,
  deletePlacementGroup,
  describePlacementGroup,
  listPlacementGroups,
} from "../../fleet/placement-groups";
import { GROUP_STRATEGIES, MAX_PARTITIONS_PER_ZONE } from "../../sim/placement-groups";
import { MAX_PAGE, Timestamp } from "./common";
import type { Assert, Documents } from "./exact";
import { PlacementGroupId, PlacementGroupName } from "./instances";

export const GroupStrategy = z.enum(GROUP_STRATEGIES).openapi("PlacementGroupStrategy");
const PartitionNumber = z.number().int().min(1).max(MAX_PARTITIONS_PER_ZONE);

export const PlacementGroup = z
  .object({
    groupId: PlacementGroupId,
    groupName: PlacementGroupName,
    strategy: GroupStrategy,
    partitionCount: PartitionNumber.nullable(),
    state: z.enum(["available", "deleted"]),
    instanceCount: z.number().int().min(0).openapi({ description: "instances in it that hold a place" }),
    createdAt: Timestamp,
  })
  .openapi("PlacementGroup");
export const PlacementGroupPage = z
  .object({ placementGroups: z.array(PlacementGroup).max(MAX_PAGE), nextCursor: PlacementGroupId.nullable() })
  .openapi("PlacementGroupPage");
export const CreatePlacementGroup = z
  .strictObject({
    groupName: PlacementGroupName,
    strategy: GroupStrategy,
    partitionCount: z
      .number()
      .int()
      .optional()
      .openapi({ description: "1 to 7, for a partition group only" }),
  })
  .openapi("CreatePlacementGroup");
export const LaunchPlacementGroup = z
  .strictObject({
    groupName: PlacementGroupName,
    partitionNumber: z
      .number()
      .int()
      .optional()
      .openapi({ description: "a partition group's partition; spread evenly when absent" }),
  })
  .openapi("LaunchPlacementGroup");

type Answer<F extends (...args: never[]) => unknown> = Awaited<ReturnType<F>>;
export type ServedPlacementGroups = [
  Assert<Documents<typeof PlacementGroup, Answer<typeof createPlacementGroup>>>,
  Assert<Documents<typeof PlacementGroup, Answer<typeof describePlacementGroup>>>,
  Assert<Documents<typeof PlacementGroup, Answer<typeof deletePlacementGroup>>>,
  Assert<Documents<typeof PlacementGroupPage, Answer<typeof listPlacementGroups>>>,
];
