// Live migration, pure: the dirty log, the guest's writes, the stop policies and the run itself.
export { DirtyLog } from "./dirty-log";
export { GuestWriter, type GuestWrites, PAGE_BYTES, validateGuestWrites } from "./guest-writes";
export {
  LAN_RTT_MS,
  type MigrationMode,
  type MigrationOutcome,
  type MigrationReport,
  type MigrationSetup,
  type PostcopyRecord,
  type RoundRecord,
  runMigration,
  SETUP_MS,
} from "./live-migration";
export {
  defaultPolicy,
  guestWritesOf,
  MIGRATION_LINK_BPS,
  type MigrationParams,
  type PolicyName,
  planMigration,
} from "./plan";
export { type Decision, MBIT, MIB, type MigrationPolicy, type RoundView } from "./policy";
export { QEMU_DEFAULTS, QemuPolicy, type QemuPolicyOptions } from "./qemu-policy";
export { type SwitchoverCosts, switchoverCosts } from "./switchover";
export { XEN_DEFAULTS, XenPolicy, type XenPolicyOptions } from "./xen-policy";
