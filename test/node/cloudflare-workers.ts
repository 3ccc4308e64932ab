// `cloudflare:workers` for the projects that run in plain Node (sim, api): the modules they
// import reach it only for `waitUntil`, which, as in the runtime outside any request, has no
// request to extend and throws.
export function waitUntil(_promise: Promise<unknown>): void {
  throw new Error("waitUntil: no request to extend outside the Workers runtime");
}
