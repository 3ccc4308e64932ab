// A host's tenancy: shared (the fleet places anyone's instances on it) or dedicated to one account, as
// EC2's Dedicated Hosts are. The host object is the judge, so that a placement working from a view a
// moment old cannot put another account's instance on a host that was just dedicated: a dedicated host
// admits only its owner's instances launched for a dedicated host, and a shared one admits none of those.
import type { InstanceRecord } from "../sim/records";
import type { Sql } from "./sql";

/** What a launch asks of its hosts: shared hosts ("default"), or its own dedicated ones ("host"). */
export type Tenancy = "default" | "host";

export class HostTenancy {
  constructor(private readonly sql: Sql) {}

  /** The account the host is dedicated to, or null while it is shared. */
  get owner(): string | null {
    return (
      this.sql<{ account_id: string }>`SELECT account_id FROM host_tenancy WHERE id = 1`[0]?.account_id ??
      null
    );
  }

  /**
   * Dedicates the host to `accountId` if no other account has an instance on it (held ones included);
   * answers whether it is now that account's.
   */
  dedicate(accountId: string, instances: readonly InstanceRecord[]): boolean {
    const owner = this.owner;
    if (owner !== null) return owner === accountId;
    if (instances.some((i) => i.accountId !== accountId)) return false;
    this.sql`INSERT INTO host_tenancy (id, account_id) VALUES (1, ${accountId})`;
    return true;
  }

  /** Shares the host again, if `accountId` owns it and has no instance left on it. */
  release(accountId: string, instances: readonly InstanceRecord[]): "released" | "not-owner" | "in-use" {
    const owner = this.owner;
    if (owner === null) return "released";
    if (owner !== accountId) return "not-owner";
    if (instances.length > 0) return "in-use";
    this.sql`DELETE FROM host_tenancy WHERE id = 1`;
    return "released";
  }

  /** The offered instances this host may take under `tenancy`. */
  admissible(offered: readonly InstanceRecord[], tenancy: Tenancy): InstanceRecord[] {
    const owner = this.owner;
    if (tenancy === "default") return owner === null ? [...offered] : [];
    return owner === null ? [] : offered.filter((i) => i.accountId === owner);
  }
}
