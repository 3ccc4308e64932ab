import { app } from "./api/app";
import { consumeEvents } from "./events/consumer";
import { consumeMetrics } from "./events/metrics-consumer";
import { consumeMigrations } from "./events/migrations";
import { consumeWebhooks } from "./events/webhook-consumer";
import { scheduled } from "./fleet/scheduled";
import { consumeStorage } from "./fleet/volume-resync";
import { EventRelayObject } from "./host/event-relay";
import { HostObject } from "./host/host-object";
import { StorageNodeObject } from "./host/storage-node";

/** One consumer per queue (wrangler.toml), chosen by the batch's queue name. */
async function queue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  if (batch.queue === "hyperfleet-metrics") return consumeMetrics(batch, env);
  if (batch.queue === "hyperfleet-webhooks") return consumeWebhooks(batch, env);
  if (batch.queue === "hyperfleet-storage") return consumeStorage(batch, env);
  if (batch.queue === "hyperfleet-migrations") return consumeMigrations(batch, env);
  return consumeEvents(batch, env);
}

export default {
  fetch: app.fetch,
  queue,
  scheduled,
} satisfies ExportedHandler<Env>;

export { EventRelayObject, HostObject, StorageNodeObject };
