// The instance store does not move: a migration of an instance with one is refused unless the caller
// accepts the loss, and once accepted the instance runs on its new host with an empty instance store,
// its old blocks gone from the host it left.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { addHosts, advance, call, freshZone, getInstance, launch, type Problem } from "./helpers";
import { finishMigration } from "./migration-driver";

const block = btoa(String.fromCharCode(...Array.from({ length: 4096 }, (_, i) => (i * 7 + 1) & 0xff)));
const zeros = btoa(String.fromCharCode(...new Uint8Array(4096)));

const finish = (migrationId: string) => finishMigration(migrationId);

async function storedBlocks(hostId: string, instanceId: string): Promise<number> {
  return runInDurableObject(env.HOST.getByName(hostId), async (_obj, state) => {
    const row = state.storage.sql
      .exec<{ n: number }>("SELECT count(*) AS n FROM instance_store WHERE instance_id = ?", instanceId)
      .one();
    return row.n;
  });
}

describe("instance store and migration", () => {
  it("is lost, as accepted: the migrated instance reads its blocks as never written, and its old host keeps none", async () => {
    const zone = freshZone();
    await addHosts(zone, "m5d", 2);
    const l = await launch({ instanceType: "m5d.large", availabilityZone: zone });
    const id = l.body.instances[0].instanceId;
    await advance(60);
    for (const n of [0, 7, 4096]) {
      const w = await call<Problem>("PUT", `/v1/instances/${id}/instance-store/blocks/${n}`, { data: block });
      expect(w.status).toBe(200);
    }
    const source = (await getInstance(id)).body.hostId!;
    expect(await storedBlocks(source, id)).toBe(3);

    // Refused without the acceptance, and nothing changed: the blocks still read back.
    const refused = await call<Problem>("POST", `/v1/instances/${id}/migrate`, {});
    expect(refused.status).toBe(400);
    expect(refused.body.detail).toMatch(/acceptInstanceStoreLoss/);
    expect(
      (await call<{ data: string }>("GET", `/v1/instances/${id}/instance-store/blocks/7`)).body.data,
    ).toBe(block);

    const accepted = await call<{ migrationId: string }>("POST", `/v1/instances/${id}/migrate`, {
      acceptInstanceStoreLoss: true,
    });
    expect(accepted.status).toBe(202);
    const done = await finish(accepted.body.migrationId);
    expect(done.status).toBe("completed");
    const after = (await getInstance(id)).body;
    expect(after.state.name).toBe("running");
    expect(after.hostId).toBe(done.destinationHostId);
    expect(after.hostId).not.toBe(source);

    for (const n of [0, 7, 4096]) {
      const r = await call<{ data: string; written: boolean }>(
        "GET",
        `/v1/instances/${id}/instance-store/blocks/${n}`,
      );
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ data: zeros, written: false });
    }
    expect(await storedBlocks(source, id)).toBe(0);
    expect(await storedBlocks(after.hostId!, id)).toBe(0);
    // The disk on the new host is the instance's own from now on.
    expect((await call("PUT", `/v1/instances/${id}/instance-store/blocks/7`, { data: block })).status).toBe(
      200,
    );
    expect(
      (await call<{ written: boolean }>("GET", `/v1/instances/${id}/instance-store/blocks/7`)).body.written,
    ).toBe(true);
  });
});
