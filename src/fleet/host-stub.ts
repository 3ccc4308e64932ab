// A stub to a host object that outlives the object's closing while idle (host/residency.ts):
// a call refused because the object closed after this stub first reached it is made again
// through a fresh stub, which opens the object from storage. Only that refusal is retried; it
// is safe because such a call never ran.
import type { HostObject } from "../host/host-object";
import { closedWhileIdle } from "../host/residency";

export type HostStub = DurableObjectStub<HostObject>;

export function hostStub(ns: DurableObjectNamespace<HostObject>, hostId: string): HostStub {
  let stub = ns.getByName(hostId);
  return new Proxy(stub, {
    get(_target, prop) {
      const member = Reflect.get(stub, prop) as unknown;
      if (typeof member !== "function" || typeof prop !== "string" || prop === "then") return member;
      return async (...args: unknown[]) => {
        try {
          return await (Reflect.get(stub, prop) as (...a: unknown[]) => Promise<unknown>)(...args);
        } catch (err) {
          if (!closedWhileIdle(err)) throw err;
          stub = ns.getByName(hostId);
          return (Reflect.get(stub, prop) as (...a: unknown[]) => Promise<unknown>)(...args);
        }
      };
    },
  });
}
