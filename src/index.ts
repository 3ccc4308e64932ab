import { app } from "./api/app";
import { consumeEvents } from "./events/consumer";
import { scheduled } from "./fleet/scheduled";
import { HostObject } from "./host/host-object";

export default {
  fetch: app.fetch,
  queue: consumeEvents,
  scheduled,
} satisfies ExportedHandler<Env>;

export { HostObject };
