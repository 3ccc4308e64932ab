// Attaching a volume to an instance of the same account and zone under a device name, and detaching it.
// One attachment at a time, unless the volume is io2 with Multi-Attach (Nitro instances only, 16 at most).
import { and, eq } from "drizzle-orm";
import { volumeAttachments } from "../db/schema";
import { DEVICE_PATTERN, MULTI_ATTACH_MAX } from "../sim/storage/volume-types";
import type { Fleet } from "./context";
import { ApiError, invalidParameter } from "./errors";
import { requireInstanceRow } from "./instance-queries";
import { storageEvent } from "./storage-events";
import { commitVolume, volumeSubject, volumeView, withVolume } from "./volume-records";

const ATTACHABLE_INSTANCE_STATES = new Set(["running", "stopped"]);

export async function attachVolume(
  fleet: Fleet,
  volumeId: string,
  input: { instanceId: string; device: string },
) {
  if (!DEVICE_PATTERN.test(input.device)) {
    throw invalidParameter("body.device", "must be a device name like /dev/sdf or /dev/xvdf");
  }
  const inst = await requireInstanceRow(fleet, input.instanceId);
  return withVolume(fleet, volumeId, async (v) => {
    if (inst.accountId !== v.row.accountId)
      throw invalidParameter("body.instanceId", "is not an instance of the volume's account");
    if (inst.zone !== v.row.zone) {
      throw new ApiError(
        400,
        "InvalidVolume.ZoneMismatch",
        `The volume '${volumeId}' is in ${v.row.zone} and the instance '${inst.id}' in ${inst.zone}`,
        { field: "body.instanceId" },
      );
    }
    if (!ATTACHABLE_INSTANCE_STATES.has(inst.state)) {
      throw new ApiError(
        409,
        "IncorrectInstanceState",
        `The instance '${inst.id}' is ${inst.state}; attach to a running or stopped one`,
        {
          instanceId: inst.id,
        },
      );
    }
    if (v.row.state !== "available" && v.row.state !== "in-use") {
      throw new ApiError(409, "IncorrectState", `The volume '${volumeId}' is ${v.row.state}`, {
        field: "volumeId",
      });
    }
    if (v.attachments.some((a) => a.instanceId === inst.id)) {
      throw new ApiError(409, "VolumeInUse", `The volume '${volumeId}' is already attached to '${inst.id}'`, {
        field: "volumeId",
      });
    }
    if (v.attachments.length > 0 && !v.row.multiAttach) {
      throw new ApiError(
        409,
        "VolumeInUse",
        `The volume '${volumeId}' is attached to '${v.attachments[0].instanceId}'`,
        {
          field: "volumeId",
        },
      );
    }
    if (v.row.multiAttach) {
      if (inst.hypervisor !== "nitro") {
        throw invalidParameter(
          "body.instanceId",
          "Multi-Attach volumes attach only to Nitro-based instances",
        );
      }
      if (v.attachments.length >= MULTI_ATTACH_MAX) {
        throw new ApiError(
          409,
          "VolumeInUse",
          `A Multi-Attach volume attaches to ${MULTI_ATTACH_MAX} instances at most`,
          {
            field: "volumeId",
          },
        );
      }
    }
    const taken = await fleet.db
      .select({ volumeId: volumeAttachments.volumeId })
      .from(volumeAttachments)
      .where(and(eq(volumeAttachments.instanceId, inst.id), eq(volumeAttachments.device, input.device)))
      .get();
    if (taken)
      throw invalidParameter(
        "body.device",
        `${input.device} is already in use on ${inst.id} (by ${taken.volumeId})`,
      );
    const now = await fleet.now();
    const event = storageEvent(
      "volume.attached",
      volumeSubject(v.row, { device: input.device }),
      "in-use",
      v.row.state,
      now,
      inst.id,
    );
    let won: boolean;
    try {
      won = await commitVolume(
        fleet,
        v.row,
        { state: "in-use" },
        (g) => [
          {
            sql: `INSERT INTO volume_attachments (volume_id, instance_id, device, attached_at) SELECT ?, ?, ?, ? WHERE ${g.sql}`,
            params: [volumeId, inst.id, input.device, now, ...g.params],
          },
        ],
        [event],
      );
    } catch (err) {
      // D1 refused the batch (so none of it applied): another attach won a race past the checks above.
      throw (await lostRace(fleet, err, volumeId, inst.id, input.device)) ?? err;
    }
    if (!won) return null;
    const after = {
      ...v,
      row: { ...v.row, state: "in-use" },
      attachments: [
        ...v.attachments,
        { volumeId, instanceId: inst.id, device: input.device, attachedAt: now },
      ],
    };
    return volumeView(after);
  });
}

/** The conflict a refused attachment batch ran into, named as the checks above name it; null if not one. */
async function lostRace(
  fleet: Fleet,
  err: unknown,
  volumeId: string,
  instanceId: string,
  device: string,
): Promise<ApiError | null> {
  const text = String(err instanceof Error ? err.message : err);
  if (/UNIQUE constraint failed: volume_attachments\.instance_id, volume_attachments\.device/.test(text)) {
    const holder = await fleet.db
      .select({ volumeId: volumeAttachments.volumeId })
      .from(volumeAttachments)
      .where(and(eq(volumeAttachments.instanceId, instanceId), eq(volumeAttachments.device, device)))
      .get();
    return new ApiError(
      409,
      "IncorrectState",
      `${device} on ${instanceId} was taken${holder ? ` by ${holder.volumeId}` : ""} while this attach ran`,
      { field: "body.device", instanceId, device },
    );
  }
  if (/volume_attachments: the volume is attached and not Multi-Attach/.test(text)) {
    return new ApiError(409, "VolumeInUse", `The volume '${volumeId}' was attached elsewhere meanwhile`, {
      field: "volumeId",
    });
  }
  if (/volume_attachments: a Multi-Attach volume attaches to 16/.test(text)) {
    return new ApiError(
      409,
      "VolumeInUse",
      `A Multi-Attach volume attaches to ${MULTI_ATTACH_MAX} instances at most`,
      { field: "volumeId" },
    );
  }
  return null;
}

export async function detachVolume(fleet: Fleet, volumeId: string, input: { instanceId?: string }) {
  return withVolume(fleet, volumeId, async (v) => {
    if (v.attachments.length === 0) {
      throw new ApiError(409, "IncorrectState", `The volume '${volumeId}' is not attached`, {
        field: "volumeId",
      });
    }
    let att = v.attachments[0];
    if (input.instanceId !== undefined) {
      const found = v.attachments.find((a) => a.instanceId === input.instanceId);
      if (!found)
        throw invalidParameter("body.instanceId", `the volume is not attached to '${input.instanceId}'`);
      att = found;
    } else if (v.attachments.length > 1) {
      throw invalidParameter("body.instanceId", "is required: the volume is attached to several instances");
    }
    const left = v.attachments.filter((a) => a.instanceId !== att.instanceId);
    const state = left.length > 0 ? "in-use" : "available";
    const event = storageEvent(
      "volume.detached",
      volumeSubject(v.row, { device: att.device }),
      state,
      v.row.state,
      await fleet.now(),
      att.instanceId,
    );
    const won = await commitVolume(
      fleet,
      v.row,
      { state },
      (g) => [
        {
          sql: `DELETE FROM volume_attachments WHERE volume_id = ? AND instance_id = ? AND ${g.sql}`,
          params: [volumeId, att.instanceId, ...g.params],
        },
      ],
      [event],
    );
    return won ? volumeView({ ...v, row: { ...v.row, state }, attachments: left }) : null;
  });
}
