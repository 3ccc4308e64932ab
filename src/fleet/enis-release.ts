// Freeing the interfaces of terminated instances as D1 learns they terminated, whichever way
// they did (a terminate, a launch that failed with its host, a stopped instance terminated):
// the statements run in the mirror's batch, after the instances' rows, so an address is
// free in the same transaction that records its instance terminated, with its event.
import type { Statement } from "./mirror";

const UUID = `lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-' || lower(hex(randomblob(2))) || '-' || lower(hex(randomblob(2))) || '-' || lower(hex(randomblob(6)))`;

const terminated = (column: string) =>
  `${column} IN (SELECT value FROM json_each(?)) AND ${column} IN (SELECT id FROM instances WHERE state = 'terminated')`;

export function releaseTerminated(instanceIds: readonly string[]): Statement[] {
  if (instanceIds.length === 0) return [];
  const ids = JSON.stringify(instanceIds);
  return [
    {
      sql: `INSERT INTO network_events (id, account_id, type, time, network_interface_id, instance_id, private_ip)
        SELECT ${UUID}, n.account_id, 'network-interface.released', COALESCE(i.terminated_at, i.state_transition_time), n.id, n.instance_id, n.private_ip
        FROM network_interfaces n JOIN instances i ON i.id = n.instance_id WHERE ${terminated("n.instance_id")}`,
      params: [ids],
    },
    { sql: `DELETE FROM network_interfaces WHERE ${terminated("instance_id")}`, params: [ids] },
  ];
}
