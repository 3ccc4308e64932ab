// The D1 fleet inventory: the read model for listing and filtering across hosts. Host
// Durable Objects are the truth for what runs on them; these rows mirror it.
//
// The trigger of the view `launch_mirror` (migrations/0019_launch_mirror.sql, written by hand)
// inserts into events, instances, hosts, network_interfaces and network_events with the
// statements fleet/mirror.ts builds from these tables: a migration that changes one of the
// five (a column added, or the table rebuilt, as drizzle-kit does with DROP and RENAME) drops
// that trigger first and creates it again with the code's statements after;
// test/integration/launch-mirror.test.ts fails until it does.
import { sql } from "drizzle-orm";
import {
  blob,
  index,
  integer,
  primaryKey,
  real,
  sqliteTable,
  text,
  uniqueIndex,
} from "drizzle-orm/sqlite-core";

export const hosts = sqliteTable(
  "hosts",
  {
    id: text("id").primaryKey(),
    zone: text("zone").notNull(),
    rack: text("rack").notNull(),
    family: text("family").notNull(),
    hypervisor: text("hypervisor").notNull(),
    state: text("state").notNull(),
    sockets: integer("sockets").notNull(),
    coresPerSocket: integer("cores_per_socket").notNull(),
    threadsPerCore: integer("threads_per_core").notNull(),
    memoryMiB: integer("memory_mib").notNull(),
    reservedThreads: integer("reserved_threads").notNull(),
    reservedMemoryMiB: integer("reserved_memory_mib").notNull(),
    nvmeGB: integer("nvme_gb").notNull(),
    usedVcpus: integer("used_vcpus").notNull(),
    freeVcpus: integer("free_vcpus").notNull(),
    usedMemoryMiB: integer("used_memory_mib").notNull(),
    freeMemoryMiB: integer("free_memory_mib").notNull(),
    usedNvmeGB: integer("used_nvme_gb").notNull(),
    freeNvmeGB: integer("free_nvme_gb").notNull(),
    vmCount: integer("vm_count").notNull(),
    usageVersion: integer("usage_version").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("hosts_family_zone").on(t.family, t.zone, t.state)],
);

export const instances = sqliteTable(
  "instances",
  {
    id: text("id").primaryKey(),
    /** The owner; null only for instances launched before accounts existed (the admin's alone). */
    accountId: text("account_id"),
    reservationId: text("reservation_id").notNull(),
    instanceType: text("instance_type").notNull(),
    family: text("family").notNull(),
    hypervisor: text("hypervisor").notNull(),
    virtualizationType: text("virtualization_type").notNull().default("hvm"),
    zone: text("zone").notNull(),
    hostId: text("host_id"),
    state: text("state").notNull(),
    stateCode: integer("state_code").notNull(),
    version: integer("version").notNull(),
    launchTime: integer("launch_time").notNull(),
    stateTransitionTime: integer("state_transition_time").notNull(),
    stateReason: text("state_reason").notNull(),
    clientToken: text("client_token"),
    tags: text("tags").notNull(),
    workload: text("workload").notNull(),
    placementStrategy: text("placement_strategy").notNull(),
    paging: text("paging").notNull().default("{}"),
    vcpus: integer("vcpus").notNull(),
    memoryMiB: integer("memory_mib").notNull(),
    nvmeGB: integer("nvme_gb").notNull(),
    threads: text("threads").notNull(),
    terminatedAt: integer("terminated_at"),
    /** A start or terminate of a stopped instance in flight: who holds it, and until when (wall ms). */
    claim: text("claim"),
    claimExpires: integer("claim_expires"),
    /** The placement group it was launched into (placement-groups.ts), and its partition in a partition group. */
    placementGroupId: text("placement_group_id"),
    placementGroupName: text("placement_group_name"),
    placementPartition: integer("placement_partition"),
    /** The launch's tenancy ("host": the account's Dedicated Hosts) and the dedicated host it named, if any. */
    tenancy: text("tenancy").notNull().default("default"),
    hostAffinity: text("host_affinity"),
  },
  (t) => [
    index("instances_state").on(t.state),
    index("instances_placement_group").on(t.placementGroupId),
    index("instances_host").on(t.hostId),
    index("instances_zone").on(t.zone),
    index("instances_type").on(t.instanceType),
    index("instances_account").on(t.accountId, t.id),
  ],
);

/** Each account's tokens are its own: two accounts may use the same token. */
export const clientTokens = sqliteTable(
  "client_tokens",
  {
    accountId: text("account_id").notNull().default(""),
    token: text("token").notNull(),
    paramsHash: text("params_hash").notNull(),
    status: text("status").notNull(),
    reservationId: text("reservation_id").notNull(),
    instanceIds: text("instance_ids").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.token] })],
);

/** Client tokens of calls that make one resource (CreateVolume, AllocateHosts): fleet/resource-tokens.ts. */
export const resourceTokens = sqliteTable(
  "resource_tokens",
  {
    accountId: text("account_id").notNull(),
    kind: text("kind").notNull(),
    token: text("token").notNull(),
    paramsHash: text("params_hash").notNull(),
    resourceId: text("resource_id").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.kind, t.token] })],
);

/** A fleet host an account has taken as its Dedicated Host (fleet/dedicated-hosts.ts, host/tenancy.ts). */
export const dedicatedHosts = sqliteTable(
  "dedicated_hosts",
  {
    hostId: text("host_id").primaryKey(),
    accountId: text("account_id").notNull(),
    zone: text("zone").notNull(),
    family: text("family").notNull(),
    /** "on": the account's launches for a dedicated host without a host id may land here. */
    autoPlacement: text("auto_placement").notNull(),
    allocatedAt: integer("allocated_at").notNull(),
  },
  (t) => [index("dedicated_hosts_account").on(t.accountId, t.zone, t.family)],
);

export const events = sqliteTable(
  "events",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    id: text("id").notNull().unique(),
    /** The account of the instance the event is about; null for host events. */
    accountId: text("account_id"),
    type: text("type").notNull(),
    time: integer("time").notNull(),
    hostId: text("host_id"),
    instanceId: text("instance_id"),
    state: text("state").notNull(),
    previousState: text("previous_state"),
    body: text("body").notNull(),
    /** Wall time the fleet logged it at (ms); null on events logged before 0006. */
    wallTime: integer("wall_time"),
    /** The resource of an event about neither an instance nor a host (an alarm, a subscription). */
    resourceId: text("resource_id"),
  },
  (t) => [
    index("events_instance").on(t.instanceId),
    index("events_type").on(t.type),
    index("events_account").on(t.accountId, t.seq),
    index("events_resource").on(t.resourceId),
    index("events_time").on(t.time),
  ],
);

/** Tenants: every tenant resource carries the id of its account (12 digits, as EC2's). */
export const accounts = sqliteTable("accounts", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  createdAt: integer("created_at").notNull(),
});

/**
 * A tenant's API keys, stored only as the SHA-256 of their secret part (fleet/keys.ts).
 * A revoked key keeps its row, so that its id still names it in the account's list.
 */
export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    name: text("name").notNull(),
    secretHash: text("secret_hash").notNull(),
    createdAt: integer("created_at").notNull(),
    revokedAt: integer("revoked_at"),
  },
  (t) => [index("api_keys_account").on(t.accountId)],
);

export const simClock = sqliteTable("sim_clock", {
  id: integer("id").primaryKey(),
  mode: text("mode").notNull(),
  anchorWallMs: integer("anchor_wall_ms").notNull(),
  anchorSimMs: integer("anchor_sim_ms").notNull(),
  scale: real("scale").notNull(),
  generation: integer("generation").notNull().default(0),
});

// ---- metrics, alarms, webhooks (migration 0006) ----

/**
 * Metric samples as host objects send them (fleet/metrics-store.ts): one row per series (a
 * metric and its dimensions) and simulated time, kept for RAW_RETENTION_MS.
 */
export const metricSamples = sqliteTable(
  "metric_samples",
  {
    series: text("series").notNull(),
    time: integer("time").notNull(),
    /** The instance's account; null for a host's own metrics (the admin's alone). */
    accountId: text("account_id"),
    metric: text("metric").notNull(),
    dims: text("dims").notNull(),
    value: real("value").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.series, t.time] }),
    index("metric_samples_metric").on(t.metric, t.time),
    index("metric_samples_time").on(t.time),
  ],
);

/** Rollups of each series over 1 min, 5 min and 1 h buckets, recomputed from the samples. */
export const metricRollups = sqliteTable(
  "metric_rollups",
  {
    series: text("series").notNull(),
    period: integer("period").notNull(),
    bucket: integer("bucket").notNull(),
    accountId: text("account_id"),
    metric: text("metric").notNull(),
    dims: text("dims").notNull(),
    count: integer("count").notNull(),
    sum: real("sum").notNull(),
    min: real("min").notNull(),
    max: real("max").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.series, t.period, t.bucket] }),
    index("metric_rollups_metric").on(t.metric, t.period, t.bucket),
    index("metric_rollups_bucket").on(t.period, t.bucket),
  ],
);

export const alarms = sqliteTable(
  "alarms",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    name: text("name").notNull(),
    metric: text("metric").notNull(),
    dims: text("dims").notNull(),
    statistic: text("statistic").notNull(),
    /** Seconds, as CloudWatch's Period. */
    period: integer("period").notNull(),
    evaluationPeriods: integer("evaluation_periods").notNull(),
    datapointsToAlarm: integer("datapoints_to_alarm").notNull(),
    threshold: real("threshold").notNull(),
    comparison: text("comparison").notNull(),
    treatMissing: text("treat_missing").notNull(),
    state: text("state").notNull(),
    stateReason: text("state_reason").notNull(),
    /** Simulated time of the last state change. */
    stateTime: integer("state_time").notNull(),
    /** The end of the last window evaluated (simulated ms). */
    evaluatedTo: integer("evaluated_to"),
    createdAt: integer("created_at").notNull(),
    version: integer("version").notNull(),
  },
  (t) => [uniqueIndex("alarms_account_name").on(t.accountId, t.name), index("alarms_metric").on(t.metric)],
);

export const subscriptions = sqliteTable(
  "subscriptions",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    url: text("url").notNull(),
    eventTypes: text("event_types").notNull(),
    resourceIds: text("resource_ids"),
    enabled: integer("enabled").notNull(),
    disabledReason: text("disabled_reason"),
    /** The signing secrets, AES-GCM encrypted with HYPERFLEET_WEBHOOK_KEY (events/secrets.ts). */
    secrets: text("secrets").notNull(),
    /** Wall time of the first failure since the last success. */
    failingSince: integer("failing_since"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("subscriptions_account").on(t.accountId, t.id)],
);

export const deliveries = sqliteTable(
  "deliveries",
  {
    /** The webhook-id: the same on every attempt and on a redelivery. */
    id: text("id").primaryKey(),
    subscriptionId: text("subscription_id").notNull(),
    accountId: text("account_id").notNull(),
    eventId: text("event_id").notNull(),
    eventType: text("event_type").notNull(),
    eventTime: integer("event_time").notNull(),
    eventSeq: integer("event_seq").notNull(),
    body: text("body").notNull(),
    /** pending, delivered, or dead (every attempt failed). */
    status: text("status").notNull(),
    attempts: integer("attempts").notNull(),
    /** Attempts made before the current round (a redelivery starts a new one). */
    roundStart: integer("round_start").notNull().default(0),
    /** Wall time until which one consumer holds it to attempt it. */
    leaseUntil: integer("lease_until"),
    lastStatus: integer("last_status"),
    lastError: text("last_error"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("deliveries_subscription_event").on(t.subscriptionId, t.eventId),
    index("deliveries_subscription").on(t.subscriptionId, t.createdAt),
  ],
);

export const deliveryAttempts = sqliteTable(
  "delivery_attempts",
  {
    deliveryId: text("delivery_id").notNull(),
    attempt: integer("attempt").notNull(),
    at: integer("at").notNull(),
    statusCode: integer("status_code"),
    latencyMs: integer("latency_ms").notNull(),
    excerpt: text("excerpt"),
    error: text("error"),
  },
  (t) => [primaryKey({ columns: [t.deliveryId, t.attempt] })],
);

// ---- Block storage (migrations/0007_block_storage.sql) ----

/** Storage nodes as their objects last said (by version); the objects are the truth. */
export const storageNodes = sqliteTable(
  "storage_nodes",
  {
    id: text("id").primaryKey(),
    zone: text("zone").notNull(),
    rack: text("rack").notNull(),
    state: text("state").notNull(),
    version: integer("version").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("storage_nodes_zone").on(t.zone, t.state)],
);

/**
 * A volume's control record: D1 is its truth, changed only by conditional writes on `version`.
 * `writeSeq` orders the volume's writes; each block on a copy keeps the sequence of its write.
 */
export const volumes = sqliteTable(
  "volumes",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    zone: text("zone").notNull(),
    volumeType: text("volume_type").notNull(),
    sizeGiB: integer("size_gib").notNull(),
    iops: integer("iops").notNull(),
    throughputMiBps: real("throughput_mibps").notNull(),
    multiAttach: integer("multi_attach", { mode: "boolean" }).notNull(),
    kmsKeyId: text("kms_key_id").notNull(),
    snapshotId: text("snapshot_id"),
    state: text("state").notNull(),
    health: text("health").notNull(),
    writeSeq: integer("write_seq").notNull().default(0),
    version: integer("version").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("volumes_account").on(t.accountId, t.id), index("volumes_health").on(t.health)],
);

export const volumeReplicas = sqliteTable(
  "volume_replicas",
  {
    volumeId: text("volume_id").notNull(),
    nodeId: text("node_id").notNull(),
    rack: text("rack").notNull(),
    state: text("state").notNull(),
  },
  (t) => [primaryKey({ columns: [t.volumeId, t.nodeId] }), index("volume_replicas_node").on(t.nodeId)],
);

export const volumeAttachments = sqliteTable(
  "volume_attachments",
  {
    volumeId: text("volume_id").notNull(),
    instanceId: text("instance_id").notNull(),
    device: text("device").notNull(),
    attachedAt: integer("attached_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.volumeId, t.instanceId] }),
    index("volume_attachments_instance").on(t.instanceId),
    // One volume per device of an instance. (Migration 0014 also adds triggers that refuse a second
    // attachment of a volume that is not Multi-Attach, and a seventeenth of one that is.)
    uniqueIndex("volume_attachments_device").on(t.instanceId, t.device),
  ],
);

/** An incremental snapshot: its own blocks are those written since its parent (the volume's previous one). */
export const snapshots = sqliteTable(
  "snapshots",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    volumeId: text("volume_id").notNull(),
    parentId: text("parent_id"),
    volumeSizeGiB: integer("volume_size_gib").notNull(),
    state: text("state").notNull(),
    blocksStored: integer("blocks_stored").notNull(),
    blocksTotal: integer("blocks_total").notNull(),
    startTime: integer("start_time").notNull(),
  },
  (t) => [
    index("snapshots_volume").on(t.volumeId, t.startTime),
    index("snapshots_account").on(t.accountId, t.id),
  ],
);

export const snapshotBlocks = sqliteTable(
  "snapshot_blocks",
  {
    snapshotId: text("snapshot_id").notNull(),
    n: integer("n").notNull(),
    seq: integer("seq").notNull(),
    checksum: text("checksum").notNull(),
    data: blob("data", { mode: "buffer" }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.snapshotId, t.n] })],
);

export const filesystems = sqliteTable(
  "filesystems",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    name: text("name").notNull(),
    state: text("state").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("filesystems_account").on(t.accountId, t.id)],
);

export const mountTargets = sqliteTable(
  "mount_targets",
  {
    id: text("id").primaryKey(),
    filesystemId: text("filesystem_id").notNull(),
    zone: text("zone").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [uniqueIndex("mount_targets_zone").on(t.filesystemId, t.zone)],
);

export const fsFiles = sqliteTable(
  "fs_files",
  {
    filesystemId: text("filesystem_id").notNull(),
    path: text("path").notNull(),
    data: blob("data", { mode: "buffer" }).notNull(),
    version: integer("version").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.filesystemId, t.path] })],
);

/** An open file: what it read at open (close-to-open), and what it wrote, seen by others only after close. */
export const fsHandles = sqliteTable(
  "fs_handles",
  {
    id: text("id").primaryKey(),
    filesystemId: text("filesystem_id").notNull(),
    instanceId: text("instance_id").notNull(),
    path: text("path").notNull(),
    mode: text("mode").notNull(),
    baseVersion: integer("base_version").notNull(),
    data: blob("data", { mode: "buffer" }).notNull(),
    dirty: integer("dirty", { mode: "boolean" }).notNull(),
    openedAt: integer("opened_at").notNull(),
  },
  (t) => [index("fs_handles_fs").on(t.filesystemId)],
);

/**
 * Live migrations: the record of a process that spans two host objects. Steps (fleet/migration-steps.ts)
 * change a row only from the step they expect, so a redelivered or late step changes nothing. At most
 * one open migration per instance.
 */
export const migrations = sqliteTable(
  "migrations",
  {
    id: text("id").primaryKey(),
    /** The instance's account, from birth; null only for an instance that has none. */
    accountId: text("account_id"),
    instanceId: text("instance_id").notNull(),
    sourceHostId: text("source_host_id").notNull(),
    destinationHostId: text("destination_host_id"),
    /** Whether the caller named the destination (else placement chose it). */
    requestedDestination: integer("requested_destination", { mode: "boolean" }).notNull().default(false),
    /** QEMU's query-migrate status: setup, active, postcopy-active, device, completed, failed, cancelled. */
    status: text("status").notNull(),
    /** The next step: reserve, precopy, switch, release, done. */
    step: text("step").notNull(),
    params: text("params").notNull(),
    report: text("report"),
    reason: text("reason"),
    evacuationId: text("evacuation_id"),
    version: integer("version").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    /** Simulated ms the pre-copy (or post-copy) began on the source. */
    startedAt: integer("started_at"),
    /** Simulated ms the guest resumes on the destination: the switch step acts only from then. */
    switchAt: integer("switch_at"),
    /** Simulated ms post-copy's last page arrives (the switch, for a pre-copy): the end of the migration. */
    lastPageAt: integer("last_page_at"),
  },
  (t) => [
    index("migrations_account").on(t.accountId, t.id),
    index("migrations_open_step").on(t.step),
    index("migrations_instance").on(t.instanceId),
    index("migrations_evacuation").on(t.evacuationId),
    uniqueIndex("migrations_one_open").on(t.instanceId).where(sql`${t.step} <> 'done'`),
  ],
);

/** A host's evacuation: its migrations carry its id; the instances that could not move are listed here. */
export const evacuations = sqliteTable(
  "evacuations",
  {
    id: text("id").primaryKey(),
    hostId: text("host_id").notNull(),
    /** JSON: [{ instanceId, reason }] of the instances left on the host. */
    skipped: text("skipped").notNull(),
    createdAt: integer("created_at").notNull(),
    /** JSON: the ids of every instance on the host when the evacuation began. */
    instanceIds: text("instance_ids").notNull().default("[]"),
    /** starting until every instance has a migration or a reason it stays; then started. */
    state: text("state").notNull().default("started"),
  },
  (t) => [index("evacuations_host").on(t.hostId)],
);

/** Scheduled events on instances (EC2's instance-reboot, system-reboot, system-maintenance, instance-retirement, instance-stop). */
export const scheduledEvents = sqliteTable(
  "scheduled_events",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id"),
    instanceId: text("instance_id").notNull(),
    code: text("code").notNull(),
    description: text("description").notNull(),
    /** Simulated ms: the fleet acts once the clock passes notBefore. */
    notBefore: integer("not_before").notNull(),
    notAfter: integer("not_after").notNull(),
    /** scheduled, acting (claimed; for a migration, until it ends), completed or failed. */
    state: text("state").notNull(),
    outcome: text("outcome"),
    /** The live migration a retirement or maintenance started. */
    migrationId: text("migration_id"),
    createdAt: integer("created_at").notNull(),
    actedAt: integer("acted_at"),
  },
  (t) => [
    index("scheduled_events_instance").on(t.instanceId),
    index("scheduled_events_due").on(t.state, t.notBefore),
    index("scheduled_events_acting").on(t.state, t.actedAt),
  ],
);

/**
 * Access keys for the EC2 Query API (SigV4). SigV4 needs the secret itself to check a
 * signature, so it is kept encrypted (AES-GCM under a key from the Worker's secrets,
 * fleet/access-keys.ts), never hashed, and never in the clear.
 */
export const accessKeys = sqliteTable(
  "access_keys",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    /** base64 of the 12-byte IV followed by the AES-GCM ciphertext and tag. */
    secretCiphertext: text("secret_ciphertext").notNull(),
    createdAt: integer("created_at").notNull(),
    revokedAt: integer("revoked_at"),
  },
  (t) => [index("access_keys_account").on(t.accountId)],
);

// ---- Networking (fleet/vpcs.ts, subnets.ts, enis.ts, security-groups.ts): D1 is the truth
// of an account's network configuration; the hosts' virtual switches hold only flow state.

/** A VPC: its block, and the segment id (VNI) its frames carry on the physical network. */
export const vpcs = sqliteTable(
  "vpcs",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    cidr: text("cidr").notNull(),
    vni: integer("vni").notNull().unique(),
    isDefault: integer("is_default", { mode: "boolean" }).notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    index("vpcs_account").on(t.accountId, t.id),
    // One default VPC per account, even when two first launches race to make it.
    uniqueIndex("vpcs_default").on(t.accountId).where(sql`${t.isDefault} = 1`),
  ],
);

export const subnets = sqliteTable(
  "subnets",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    vpcId: text("vpc_id").notNull(),
    zone: text("zone").notNull(),
    cidr: text("cidr").notNull(),
    isDefault: integer("is_default", { mode: "boolean" }).notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    index("subnets_account").on(t.accountId, t.id),
    index("subnets_vpc").on(t.vpcId),
    uniqueIndex("subnets_default").on(t.vpcId, t.zone).where(sql`${t.isDefault} = 1`),
    // Two default subnets made at once for two zones cannot take the same block.
    uniqueIndex("subnets_block").on(t.vpcId, t.cidr),
  ],
);

/**
 * Network interfaces. An address is held by one interface of its subnet at a time (the
 * unique index is what makes two racing launches pick different ones); deleting the row
 * frees it.
 */
export const networkInterfaces = sqliteTable(
  "network_interfaces",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    subnetId: text("subnet_id").notNull(),
    vpcId: text("vpc_id").notNull(),
    zone: text("zone").notNull(),
    instanceId: text("instance_id").notNull(),
    macAddress: text("mac_address").notNull(),
    privateIp: text("private_ip").notNull(),
    ip: integer("ip").notNull(),
    securityGroupIds: text("security_group_ids").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    uniqueIndex("network_interfaces_address").on(t.subnetId, t.ip),
    // One (primary) interface per instance.
    uniqueIndex("network_interfaces_instance").on(t.instanceId),
    index("network_interfaces_account").on(t.accountId, t.id),
    index("network_interfaces_vpc_ip").on(t.vpcId, t.ip),
  ],
);

export const securityGroups = sqliteTable(
  "security_groups",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    vpcId: text("vpc_id").notNull(),
    name: text("name").notNull(),
    description: text("description").notNull(),
    isDefault: integer("is_default", { mode: "boolean" }).notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    index("security_groups_account").on(t.accountId, t.id),
    uniqueIndex("security_groups_name").on(t.vpcId, t.name),
  ],
);

export const securityGroupRules = sqliteTable(
  "security_group_rules",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    groupId: text("group_id").notNull(),
    direction: text("direction").notNull(),
    protocol: text("protocol").notNull(),
    fromPort: integer("from_port").notNull(),
    toPort: integer("to_port").notNull(),
    cidr: text("cidr"),
    peerGroupId: text("peer_group_id"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("security_group_rules_group").on(t.groupId)],
);

/** A route between two VPCs of one account, both ways. */
export const vpcPeerings = sqliteTable(
  "vpc_peerings",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    requesterVpcId: text("requester_vpc_id").notNull(),
    accepterVpcId: text("accepter_vpc_id").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    uniqueIndex("vpc_peerings_pair").on(t.requesterVpcId, t.accepterVpcId),
    index("vpc_peerings_accepter").on(t.accepterVpcId),
  ],
);

/** The network's event log (sim/network/events.ts), an account's own, written with each change. */
export const networkEvents = sqliteTable(
  "network_events",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    id: text("id").notNull().unique(),
    accountId: text("account_id").notNull(),
    type: text("type").notNull(),
    time: integer("time").notNull(),
    networkInterfaceId: text("network_interface_id").notNull(),
    instanceId: text("instance_id").notNull(),
    privateIp: text("private_ip").notNull(),
  },
  (t) => [
    index("network_events_account").on(t.accountId, t.seq),
    index("network_events_instance").on(t.instanceId),
  ],
);

/** Known-good digests of boot stages (sim/security/measured-boot.ts): what a trusted host may boot. */
export const bootAllowList = sqliteTable(
  "boot_allow_list",
  {
    stage: text("stage").notNull(),
    digest: text("digest").notNull(),
    description: text("description").notNull(),
    addedAt: integer("added_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.stage, t.digest] })],
);

/** Each host's latest verdict on its measured boot; a quarantined host gets no new instances. */
export const hostAttestations = sqliteTable(
  "host_attestations",
  {
    hostId: text("host_id").primaryKey(),
    status: text("status").notNull(),
    pcr: text("pcr").notNull(),
    /** The digest of the configuration the fleet provisioned the host with. */
    expectedConfig: text("expected_config").notNull(),
    /** The boot check's findings, JSON. */
    findings: text("findings").notNull(),
    attestedAt: integer("attested_at").notNull(),
  },
  (t) => [index("host_attestations_status").on(t.status)],
);

/** Network ACLs (sim/network/network-acl.ts): a VPC's default one, made on first need, and custom ones. */
export const networkAcls = sqliteTable(
  "network_acls",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    vpcId: text("vpc_id").notNull(),
    isDefault: integer("is_default", { mode: "boolean" }).notNull(),
    /** CreateNetworkAcl's idempotency token; a retry with it finds this ACL. */
    clientToken: text("client_token"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    uniqueIndex("network_acls_client_token").on(t.accountId, t.clientToken),
    index("network_acls_account").on(t.accountId, t.id),
    index("network_acls_vpc").on(t.vpcId),
    uniqueIndex("network_acls_default").on(t.vpcId).where(sql`${t.isDefault} = 1`),
  ],
);

/** A network ACL's numbered rules, unique by number in each direction. */
export const networkAclEntries = sqliteTable(
  "network_acl_entries",
  {
    aclId: text("acl_id").notNull(),
    accountId: text("account_id").notNull(),
    direction: text("direction").notNull(),
    ruleNumber: integer("rule_number").notNull(),
    protocol: text("protocol").notNull(),
    fromPort: integer("from_port").notNull(),
    toPort: integer("to_port").notNull(),
    cidr: text("cidr").notNull(),
    action: text("action").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.aclId, t.direction, t.ruleNumber] })],
);

/** Each subnet's one network ACL. */
export const networkAclAssociations = sqliteTable(
  "network_acl_associations",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    subnetId: text("subnet_id").notNull(),
    aclId: text("acl_id").notNull(),
    vpcId: text("vpc_id").notNull(),
  },
  (t) => [
    uniqueIndex("network_acl_associations_subnet").on(t.subnetId),
    index("network_acl_associations_acl").on(t.aclId),
  ],
);

/** Placement groups (sim/placement-groups.ts), an account's own, unique by name. */
export const placementGroups = sqliteTable(
  "placement_groups",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    name: text("name").notNull(),
    strategy: text("strategy").notNull(),
    partitionCount: integer("partition_count"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [uniqueIndex("placement_groups_name").on(t.accountId, t.name)],
);
