import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { RELAY_SHARDS, relayName } from "../../src/host/event-relay";

await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);

// Host objects hand their events to the events relays in the background, after the call that
// made them answered (src/host/event-relay.ts), so a relay may first be needed after a test
// file's last test, while the runner closes: made here, each is there before any test runs.
await Promise.all(
  Array.from({ length: RELAY_SHARDS }, (_x, n) => env.EVENT_RELAY.getByName(relayName(n)).pending()),
);
