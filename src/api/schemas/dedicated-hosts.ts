// Dedicated Hosts as the API shows them: the fleet host an account has taken, its capacity and its
// instances, and the answers of allocating and releasing them.
import { z } from "@hono/zod-openapi";
import { DEDICATED_HOSTS_PAGE_MAX, DEDICATED_HOSTS_PER_CALL_MAX } from "../../fleet/limits";
import { FAMILIES } from "../../sim/catalog";
import { HostId, InstanceId, InstanceTypeName, Timestamp, text, Zone } from "./common";
import { MAX_HOST_VMS } from "./hosts";
import { StateNames } from "./instances";

const Account = z
  .string()
  .max(12)
  .regex(/^[0-9]{12}$/, "must be 12 digits");

export const AutoPlacement = z.enum(["on", "off"]);

export const DedicatedHost = z
  .object({
    hostId: HostId,
    accountId: Account,
    availabilityZone: Zone,
    instanceFamily: z.enum(FAMILIES),
    autoPlacement: AutoPlacement,
    state: z.enum(["available", "under-assessment"]),
    allocationTime: Timestamp,
    sockets: z.number().int(),
    cores: z.number().int(),
    vcpus: z.object({ total: z.number().int(), free: z.number().int() }).openapi("DedicatedHostVcpus"),
    instances: z
      .array(
        z
          .object({ instanceId: InstanceId, instanceType: InstanceTypeName, state: StateNames })
          .openapi("DedicatedHostInstance"),
      )
      .max(MAX_HOST_VMS),
  })
  .openapi("DedicatedHost");

export const DedicatedHostPage = z
  .object({ hosts: z.array(DedicatedHost).max(DEDICATED_HOSTS_PAGE_MAX), nextCursor: HostId.nullable() })
  .openapi("DedicatedHostPage");

export const AllocatedHosts = z
  .object({
    hostIds: z.array(HostId).max(DEDICATED_HOSTS_PER_CALL_MAX),
    hosts: z.array(DedicatedHost).max(DEDICATED_HOSTS_PER_CALL_MAX),
  })
  .openapi("AllocatedHosts");

export const ReleasedHosts = z
  .object({
    released: z.array(HostId).max(DEDICATED_HOSTS_PER_CALL_MAX),
    failed: z
      .array(
        z
          .object({
            hostId: HostId,
            code: z.enum(["InvalidHostID.NotFound", "IncorrectState"]),
            message: text(256),
          })
          .openapi("UnreleasedHost"),
      )
      .max(DEDICATED_HOSTS_PER_CALL_MAX),
  })
  .openapi("ReleasedHosts");
