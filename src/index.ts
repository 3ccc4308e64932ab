import { HostObject } from "./host/host-object";

export default {
  async fetch() {
    return new Response("ok");
  },
} satisfies ExportedHandler<Env>;

export { HostObject };
