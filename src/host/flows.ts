// The virtual switch's connection tracking in the host object's storage: one row per tracked
// flow of each network interface here. Flows past their expiry are dropped as the
// interface's flows are next written, so the table holds only what may still match.
import type { Flow, FlowTable } from "../sim/network/conntrack";
import type { Sql } from "./sql";

export class SqlFlowTable implements FlowTable {
  private readonly pruned = new Set<string>();

  constructor(
    private readonly sql: Sql,
    private readonly now: number,
  ) {}

  get(eniId: string, key: string): Flow | undefined {
    const row = this.sql<{ expires_at: number; outbound: number; inbound: number }>`
      SELECT expires_at, outbound, inbound FROM vswitch_flows WHERE eni_id = ${eniId} AND key = ${key}`[0];
    return row ? { expiresAt: row.expires_at, outbound: row.outbound, inbound: row.inbound } : undefined;
  }

  put(eniId: string, key: string, flow: Flow): void {
    if (!this.pruned.has(eniId)) {
      this.sql`DELETE FROM vswitch_flows WHERE eni_id = ${eniId} AND expires_at <= ${this.now}`;
      this.pruned.add(eniId);
    }
    this.sql`INSERT OR REPLACE INTO vswitch_flows (eni_id, key, expires_at, outbound, inbound)
      VALUES (${eniId}, ${key}, ${flow.expiresAt}, ${flow.outbound}, ${flow.inbound})`;
  }
}
