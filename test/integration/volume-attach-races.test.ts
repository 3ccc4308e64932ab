// Attaches that race: two volumes for one device of an instance, and one volume that is not Multi-Attach
// for two instances. Exactly one wins; the others get a 409 naming the conflict, and nothing of theirs
// (an attachment row, a state change, an event) is left behind. D1 itself holds the rules, so a writer
// that got past the service's checks cannot break them either.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { OPERATOR } from "../../src/fleet/accounts";
import { Fleet } from "../../src/fleet/context";
import { ApiError } from "../../src/fleet/errors";
import { attachVolume } from "../../src/fleet/volume-attachments";
import { advance, call, launch, type Problem } from "./helpers";
import { newVolume, storageZone, type VolumeBody } from "./storage-helpers";

async function attachmentRows(where: string, ...params: string[]) {
  return (
    await env.DB.prepare(`SELECT volume_id, instance_id, device FROM volume_attachments WHERE ${where}`)
      .bind(...params)
      .all<{ volume_id: string; instance_id: string; device: string }>()
  ).results;
}

async function attachedEvents(volumeId: string) {
  return (
    await env.DB.prepare(
      "SELECT count(*) AS n FROM events WHERE type = 'volume.attached' AND resource_id = ?",
    )
      .bind(volumeId)
      .first<{ n: number }>()
  )?.n;
}

describe("attach races", () => {
  it("gives one device of an instance to exactly one of several volumes attached at once", async () => {
    const { zone, instanceId } = await storageZone("m5", "m5.large");
    const vols: string[] = [];
    for (let i = 0; i < 4; i++) vols.push((await newVolume(zone)).body.volumeId);
    const answers = await Promise.all(
      vols.map((id) =>
        call<VolumeBody & Problem>("POST", `/v1/volumes/${id}/attach`, { instanceId, device: "/dev/sdf" }),
      ),
    );
    const won = answers.filter((a) => a.status === 200);
    expect(won).toHaveLength(1);
    const winner = won[0].body.volumeId;
    for (const [i, a] of answers.entries()) {
      if (a.status === 200) continue;
      // A loser that ran after the winner landed is refused by the service's check (400, as EC2 names
      // an attachment point in use); one that raced it is refused by D1's index (409).
      expect([400, 409], JSON.stringify(a.body)).toContain(a.status);
      expect(a.body.detail).toContain("/dev/sdf");
      if (a.status === 409) {
        expect(a.body.code).toBe("IncorrectState");
        expect(a.body.detail).toContain(winner);
      }
      const v = await call<VolumeBody>("GET", `/v1/volumes/${vols[i]}`);
      expect(v.body.state).toBe("available");
      expect(v.body.attachments).toEqual([]);
      expect(await attachedEvents(vols[i])).toBe(0);
    }
    const rows = await attachmentRows("instance_id = ? AND device = ?", instanceId, "/dev/sdf");
    expect(rows).toEqual([{ volume_id: winner, instance_id: instanceId, device: "/dev/sdf" }]);
    expect(await attachedEvents(winner)).toBe(1);
  });

  it("answers the attach that raced past the service's checks with a 409 naming the device and its holder", async () => {
    const { zone, instanceId } = await storageZone("m5", "m5.large");
    const vols: string[] = [];
    for (let i = 0; i < 4; i++) vols.push((await newVolume(zone)).body.volumeId);
    // Called together in one isolate, the attaches interleave at every D1 call: each checks the device
    // before any has written it, and D1's index decides.
    const fleet = new Fleet(env, OPERATOR);
    const settled = await Promise.allSettled(
      vols.map((id) => attachVolume(fleet, id, { instanceId, device: "/dev/sdh" })),
    );
    const won = settled.filter((s) => s.status === "fulfilled");
    expect(won).toHaveLength(1);
    const winner = (won[0] as PromiseFulfilledResult<{ volumeId: string }>).value.volumeId;
    const refused = settled.filter((s) => s.status === "rejected").map((s) => s.reason as ApiError);
    expect(refused).toHaveLength(3);
    for (const e of refused) {
      expect(e).toBeInstanceOf(ApiError);
      expect([400, 409]).toContain(e.status);
      expect(e.message).toContain("/dev/sdh");
    }
    // At least one lost the race itself rather than seeing the winner's row.
    const raced = refused.filter((e) => e.status === 409);
    expect(raced.length).toBeGreaterThan(0);
    for (const e of raced) {
      expect(e.code).toBe("IncorrectState");
      expect(e.message).toContain(winner);
    }
    for (const id of vols.filter((x) => x !== winner)) {
      const v = await call<VolumeBody>("GET", `/v1/volumes/${id}`);
      expect(v.body.state).toBe("available");
      expect(v.body.attachments).toEqual([]);
      expect(await attachedEvents(id)).toBe(0);
    }
    expect(await attachmentRows("instance_id = ? AND device = ?", instanceId, "/dev/sdh")).toHaveLength(1);
  });

  it("attaches a volume that is not Multi-Attach to exactly one of two instances asking at once", async () => {
    const { zone, instanceId } = await storageZone("m5", "m5.large");
    const second = (await launch({ instanceType: "m5.large", availabilityZone: zone })).body.instances[0]
      .instanceId;
    await advance(60);
    const v = (await newVolume(zone)).body.volumeId;
    const answers = await Promise.all(
      [instanceId, second].map((id) =>
        call<VolumeBody & Problem>("POST", `/v1/volumes/${v}/attach`, { instanceId: id, device: "/dev/sdg" }),
      ),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    const winner = answers.find((a) => a.status === 200)!.body.attachments[0].instanceId;
    const loser = answers.find((a) => a.status === 409)!;
    expect(loser.body.code).toBe("VolumeInUse");
    expect(loser.body.detail).toContain(v);
    const rows = await attachmentRows("volume_id = ?", v);
    expect(rows.map((r) => r.instance_id)).toEqual([winner]);
    expect(await attachedEvents(v)).toBe(1);
    const loserId = winner === instanceId ? second : instanceId;
    expect(await attachmentRows("instance_id = ?", loserId)).toEqual([]);
  });

  it("is held by D1 itself: a second row for a device, or for a volume that is not Multi-Attach, is refused", async () => {
    const { zone, instanceId } = await storageZone("m5", "m5.large");
    const second = (await launch({ instanceType: "m5.large", availabilityZone: zone })).body.instances[0]
      .instanceId;
    await advance(60);
    const a = (await newVolume(zone)).body.volumeId;
    const b = (await newVolume(zone)).body.volumeId;
    const multi = (
      await newVolume(zone, { volumeType: "io2", sizeGiB: 10, iops: 1000, multiAttachEnabled: true })
    ).body.volumeId;
    const insert = (volumeId: string, inst: string, device: string) =>
      env.DB.prepare(
        "INSERT INTO volume_attachments (volume_id, instance_id, device, attached_at) VALUES (?, ?, ?, 0)",
      )
        .bind(volumeId, inst, device)
        .run();
    await insert(a, instanceId, "/dev/sdf");
    await expect(insert(b, instanceId, "/dev/sdf")).rejects.toThrow(/UNIQUE constraint failed/);
    await expect(insert(a, second, "/dev/sdf")).rejects.toThrow(/not Multi-Attach/);
    // A Multi-Attach volume takes a second instance; the same device of another instance is free.
    await insert(multi, instanceId, "/dev/sdg");
    await insert(multi, second, "/dev/sdg");
    expect((await attachmentRows("volume_id = ?", multi)).length).toBe(2);
    expect((await attachmentRows("volume_id = ?", b)).length).toBe(0);
  });
});
