// Shared steps of the storage tests: a zone with a host, a running instance and storage nodes in
// racks of their own, and volumes made and attached there.
import { expect } from "vitest";
import { ADMIN_KEY, addHosts, advance, bearer, call, freshZone, launch, type Problem } from "./helpers";

export interface VolumeBody {
  volumeId: string;
  state: string;
  health: string;
  kmsKeyId: string;
  replicas: { nodeId: string; rack: string; state: string }[];
  attachments: { instanceId: string; device: string }[];
}
const admin = bearer(ADMIN_KEY);

/** A zone with one host of `family` running one instance of `type`, and `racks` storage nodes, one a rack. */
export async function storageZone(family: string, type: string, racks = 4) {
  const zone = freshZone();
  await addHosts(zone, family, 1);
  const nodes: string[] = [];
  for (let r = 1; r <= racks; r++) {
    const res = await call<{ nodeId: string }>(
      "POST",
      "/v1/storage-nodes",
      { availabilityZone: zone, rack: `${zone}-s${r}` },
      admin,
    );
    expect(res.status).toBe(201);
    nodes.push(res.body.nodeId);
  }
  const l = await launch({ instanceType: type, availabilityZone: zone });
  expect(l.status).toBe(201);
  await advance(60);
  return { zone, nodes, instanceId: l.body.instances[0].instanceId };
}

export async function newVolume(
  zone: string,
  body: Record<string, unknown> = {},
  headers: Record<string, string> = {},
) {
  return call<VolumeBody & Problem>(
    "POST",
    "/v1/volumes",
    { availabilityZone: zone, volumeType: "gp3", sizeGiB: 8, ...body },
    headers,
  );
}

export async function attached(
  zone: string,
  instanceId: string,
  body: Record<string, unknown> = {},
  device = "/dev/sdf",
) {
  const v = await newVolume(zone, body);
  expect(v.status).toBe(201);
  const a = await call<VolumeBody>("POST", `/v1/volumes/${v.body.volumeId}/attach`, { instanceId, device });
  expect(a.status).toBe(200);
  return a.body;
}
