import { DurableObject } from "cloudflare:workers";

export class HostObject extends DurableObject<Env> {
  ping(): string {
    return "pong";
  }
}
