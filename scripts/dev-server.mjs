// wrangler's local dev server (the same one `wrangler dev` runs: its proxy in front of the
// Worker in workerd, with Durable Objects, D1 and Queues), started through wrangler's own
// API so that the DevTools inspector can be left off. With it on, as `wrangler dev` always
// has it, the runtime reports every subrequest (each D1 query, each Durable Object call) to
// wrangler's inspector proxy, which hands each report to wrangler's Node process to be
// formatted into a debug log file, and keeps it in memory until a DevTools window attaches.
// For the benchmarks that is most of the machine's time and a leak (README, Benchmarks).
//
//   node scripts/dev-server.mjs --port N --persist-to DIR [--env-file F] [--var K:V ...]
//     [--log-level L] [--inspector-port N]
// Prints `ready <url>` on stdout once it serves; stops on SIGTERM or SIGINT.
import { parseArgs } from "node:util";
import { unstable_startWorker } from "wrangler";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    ip: { type: "string", default: "127.0.0.1" },
    "persist-to": { type: "string" },
    "env-file": { type: "string", multiple: true },
    var: { type: "string", multiple: true },
    "log-level": { type: "string", default: "error" },
    "inspector-port": { type: "string" },
  },
});

const vars = Object.fromEntries(
  (values.var ?? []).map((kv) => {
    const at = kv.indexOf(":");
    if (at < 1) throw new Error(`--var wants KEY:VALUE, not '${kv}'`);
    return [kv.slice(0, at), { type: "plain_text", value: kv.slice(at + 1) }];
  }),
);

const worker = await unstable_startWorker({
  config: new URL("../wrangler.toml", import.meta.url).pathname,
  envFiles: values["env-file"],
  bindings: vars,
  dev: {
    server: { hostname: values.ip, port: values.port ? Number(values.port) : 0 },
    inspector: values["inspector-port"] ? { port: Number(values["inspector-port"]) } : false,
    persist: values["persist-to"],
    logLevel: values["log-level"],
    watch: false,
    liveReload: false,
  },
});
await worker.ready;
console.log(`ready ${await worker.url}`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await worker.dispose().catch(() => {});
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
