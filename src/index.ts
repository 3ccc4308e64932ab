import { app } from "./api/app";
import { consumeEvents } from "./events/consumer";
import { consumeMigrations } from "./events/migrations";
import { scheduled } from "./fleet/scheduled";
import { HostObject } from "./host/host-object";

export default {
  fetch: app.fetch,
  // One consumer per queue, chosen by the queue the batch came from.
  queue: (batch, env) =>
    batch.queue === "hyperfleet-migrations" ? consumeMigrations(batch, env) : consumeEvents(batch, env),
  scheduled,
} satisfies ExportedHandler<Env>;

export { HostObject };
