// The instance store lives with the host: a reboot keeps its blocks; a stop, or the host failing under
// the instance, ends its stay there and the blocks go with it.
import { describe, expect, it } from "vitest";
import {
  ADMIN_KEY,
  addHosts,
  advance,
  bearer,
  call,
  freshZone,
  getInstance,
  launch,
  type Problem,
} from "./helpers";

interface LocalBlock {
  data: string;
  checksum: string;
  written: boolean;
}

const block = btoa(String.fromCharCode(...Array.from({ length: 4096 }, (_, i) => (i * 13) & 0xff)));
const zeros = btoa(String.fromCharCode(...new Uint8Array(4096)));

async function running(type: string, family: string, hosts = 1) {
  const zone = freshZone();
  await addHosts(zone, family, hosts);
  const l = await launch({ instanceType: type, availabilityZone: zone });
  expect(l.status).toBe(201);
  await advance(60);
  return l.body.instances[0].instanceId;
}

const write = (id: string, n: number) =>
  call<LocalBlock & Problem>("PUT", `/v1/instances/${id}/instance-store/blocks/${n}`, { data: block });
const read = (id: string, n: number) =>
  call<LocalBlock & Problem>("GET", `/v1/instances/${id}/instance-store/blocks/${n}`);

describe("instance store", () => {
  it("survives a reboot and is gone after a stop and start", async () => {
    const id = await running("m5d.large", "m5d");
    expect((await write(id, 3)).status).toBe(200);
    expect((await call("POST", `/v1/instances/${id}/reboot`)).status).toBe(200);
    await advance(60);
    const after = await read(id, 3);
    expect(after.body).toMatchObject({ data: block, written: true });

    expect((await call("POST", `/v1/instances/${id}/stop`)).status).toBe(200);
    await advance(60);
    // Stopped: no instance store to reach.
    expect((await read(id, 3)).status).toBe(409);
    expect((await call("POST", `/v1/instances/${id}/start`)).status).toBe(200);
    await advance(60);
    expect((await getInstance(id)).body.state.name).toBe("running");
    const gone = await read(id, 3);
    expect(gone.body).toMatchObject({ data: zeros, written: false });
  });

  it("is gone after the host fails under the instance", async () => {
    const id = await running("m5d.large", "m5d", 2);
    expect((await write(id, 0)).status).toBe(200);
    const hostId = (await getInstance(id)).body.hostId!;
    const failed = await call("PUT", `/v1/hosts/${hostId}/state`, { state: "failed" }, bearer(ADMIN_KEY));
    expect(failed.status).toBe(200);
    expect((await call("POST", `/v1/instances/${id}/start`)).status).toBe(200);
    await advance(60);
    const now = (await getInstance(id)).body;
    expect(now.state.name).toBe("running");
    expect(now.hostId).not.toBe(hostId);
    expect((await read(id, 0)).body.written).toBe(false);
  });

  it("is refused on a type without one, and past the disk's last block", async () => {
    const ebsOnly = await running("m5.large", "m5");
    const res = await write(ebsOnly, 0);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("UnsupportedOperation");
    const d = await running("m5d.large", "m5d");
    const past = await write(d, 75 * 1e9);
    expect(past.status).toBe(400);
    expect(past.body.detail).toContain("path.n");
  });
});
