// EC2's filters on instances (Amazon EC2 API Reference, DescribeInstances "Filter.N"), as
// the fleet's instance list takes them: each filter any of its values, all filters at once.
import type { InstanceFilter } from "../../fleet/instance-queries";
import { INSTANCE_STATES, type InstanceState, STATE_CODES } from "../../sim/lifecycle";
import { invalidValue } from "./query";

const COLUMN_FILTERS = {
  "instance-id": "instanceId",
  "reservation-id": "reservationId",
  "instance-type": "instanceType",
  "availability-zone": "availabilityZone",
  "placement.availability-zone": "availabilityZone",
  "host-id": "hostId",
  "placement.host-id": "hostId",
  "client-token": "clientToken",
  "virtualization-type": "virtualizationType",
} as const;

const OTHER_FILTERS = new Set([
  "instance-state-name",
  "instance-state-code",
  "tag-key",
  "tag-value",
  "hypervisor",
]);

export function instanceFilterNames(name: string): boolean {
  return Object.hasOwn(COLUMN_FILTERS, name) || OTHER_FILTERS.has(name) || /^tag:.{1,128}$/s.test(name);
}

/** The fleet's instance filter for EC2's `Filter.N` (names checked by instanceFilterNames) and `InstanceId.N`. */
export function instanceFilter(
  filters: Map<string, string[]>,
  ids: string[],
): Pick<InstanceFilter, "state" | "tags" | "anyOf"> {
  const anyOf: NonNullable<InstanceFilter["anyOf"]> = {};
  const both = (key: keyof typeof anyOf & string, values: string[]) => {
    const prev = anyOf[key] as string[] | undefined;
    // Two filters on one column must both hold: what both allow.
    (anyOf as Record<string, string[]>)[key] = prev ? prev.filter((v) => values.includes(v)) : values;
  };
  if (ids.length > 0) both("instanceId", ids);
  let states: InstanceState[] | undefined;
  const narrow = (allowed: InstanceState[]) => {
    states = states ? states.filter((s) => allowed.includes(s)) : allowed;
  };
  const tagValues: [string, string[]][] = [];
  for (const [name, values] of filters) {
    if (Object.hasOwn(COLUMN_FILTERS, name))
      both(COLUMN_FILTERS[name as keyof typeof COLUMN_FILTERS], values);
    else if (name === "instance-state-name") {
      for (const v of values) {
        if (!(INSTANCE_STATES as readonly string[]).includes(v)) {
          throw invalidValue(
            "Filter instance-state-name",
            `'${v.slice(0, 32)}' is not a state (${INSTANCE_STATES.join(", ")})`,
          );
        }
      }
      narrow(values as InstanceState[]);
    } else if (name === "instance-state-code") {
      // EC2's code's high byte is internal; its low byte names the state.
      narrow(
        INSTANCE_STATES.filter((s) =>
          values.some((v) => /^\d{1,5}$/.test(v) && (+v & 0xff) === STATE_CODES[s]),
        ),
      );
    } else if (name === "hypervisor") {
      // Every instance reports "xen" (see instanceItem); the filter matches as the answer reads.
      if (!values.includes("xen")) narrow([]);
    } else if (name === "tag-key") both("tagKey", values);
    else if (name === "tag-value") both("tagValue", values);
    else tagValues.push([name.slice(4), values]);
  }
  if (tagValues.length) anyOf.tagValues = tagValues;
  // States that no instance can be in (an empty list to the fleet's list means any state).
  if (states?.length === 0) anyOf.instanceId = [];
  return { ...(states ? { state: states } : {}), tags: [], anyOf };
}
