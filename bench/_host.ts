// The host record the in-Node benches build their models on: an m5 host as POST /v1/hosts makes it.
import { HOST_SHAPES } from "../src/sim/catalog";
import type { HostRecord } from "../src/sim/records";

export function benchHost(): HostRecord {
  const shape = HOST_SHAPES.m5;
  return {
    hostId: "h-0bench",
    zone: "us-east-1a",
    rack: "us-east-1a-rack-1",
    family: "m5",
    hypervisor: shape.hypervisor,
    state: "available",
    createdAt: 0,
    hw: { ...shape },
  };
}
