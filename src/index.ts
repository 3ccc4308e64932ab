import { app } from "./api/app";
import { consumeEvents } from "./events/consumer";
import { HostObject } from "./host/host-object";

export default {
  fetch: app.fetch,
  queue: consumeEvents,
} satisfies ExportedHandler<Env>;

export { HostObject };
