import { app } from "./api/app";
import { consumeEvents } from "./events/consumer";
import { scheduled } from "./fleet/scheduled";
import { consumeStorage } from "./fleet/volume-resync";
import { HostObject } from "./host/host-object";
import { StorageNodeObject } from "./host/storage-node";

export default {
  fetch: app.fetch,
  // One consumer per queue.
  queue: (batch, env) =>
    batch.queue === "hyperfleet-storage" ? consumeStorage(batch, env) : consumeEvents(batch, env),
  scheduled,
} satisfies ExportedHandler<Env>;

export { HostObject, StorageNodeObject };
