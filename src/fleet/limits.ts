// The bounds of one request: how many instances a launch may carry, how many bytes a page
// may hold, and the lengths and shapes of the strings that end up in host and instance
// records (and so in every event, row and answer about them). The services check them
// whoever calls; the API's schemas may take the same constants to say so in OpenAPI.
import { invalidParameter } from "./errors";

/**
 * Instances in one launch. EC2 lets one RunInstances take its whole resource bucket of
 * 1,000 instances (Amazon EC2 API reference, "Request throttling", resource token
 * buckets). Here the largest allowed launch must answer in under a second under
 * `wrangler dev` on a small shared machine (2 cores, load average 7 to 9): 1,000 instances
 * with 50 tags at the longest keys and values took 4.4 to 9 s and answered 20 MB; 100 of
 * them take 0.2 to 0.3 s and answer 2 MB. Without tags, 250 took 0.5 to 0.8 s and 500 took
 * 1.1 s, most of it in the host object's models and storage.
 */
export const MAX_LAUNCH_COUNT = 100;

/**
 * Hosts one request may add. Each is a host object made and a row written; 1,000 take a
 * few seconds under `wrangler dev` on this project's 2-core machine, and a fleet of 20,000
 * (the CloudSim Plus scenario of `npm run bench -- scale`) is twenty requests.
 */
export const MAX_HOSTS_PER_REQUEST = 1_000;

/**
 * Hosts one page of reconcile reads (POST /v1/admin/reconcile with hostLimit). The runtime
 * keeps every object a request called open until the request ends, each holding its SQLite
 * database in the process's shared SQLite heap (host/residency.ts): a fleet of tens of
 * thousands of hosts is compared a page at a time.
 */
export const MAX_RECONCILE_HOSTS = 1_000;

/**
 * The bytes of one launch's records: its answer, its rows and its first events all grow
 * as count × record. The most instances with the largest tags in ASCII (about 20 KB each)
 * fit; tags as long in wider characters (up to three bytes each in UTF-8) fit fewer, and a
 * launch that asks for more is refused, naming the count that fits.
 */
export const LAUNCH_MAX_BYTES = 2.5 * 1024 * 1024;
/** What a record holds besides its tags, at most: ids, states, times, workload, paging, pinning. */
export const RECORD_BYTES = 4 * 1024;

/**
 * Keys an account may ever have, revoked ones included (the key list shows them all, in one
 * answer). IAM allows two access keys per user; an account here holds several users' keys.
 */
export const MAX_KEYS_PER_ACCOUNT = 100;

/** Account and key names: printable ASCII, as people type them. */
export const NAME_MAX_LENGTH = 64;

/** EC2's tag limits: 50 per resource, keys up to 128 characters, values up to 256. */
export const MAX_TAGS = 50;
export const TAG_KEY_MAX_LENGTH = 128;
export const TAG_VALUE_MAX_LENGTH = 256;
/** Tag filters in one list request: each is a clause of the query, with bound parameters. */
export const MAX_TAG_FILTERS = 10;

/** EC2's client tokens: up to 64 ASCII characters. */
export const CLIENT_TOKEN_MAX_LENGTH = 64;
export const CLIENT_TOKEN_PATTERN = /^[\x20-\x7e]{1,64}$/;

/** Zones look like us-east-1a or us-gov-west-1a: a region's two letters, one or two words, a number, a letter. */
export const ZONE_PATTERN = /^[a-z]{2}(-[a-z]{1,16}){1,2}-\d{1,2}[a-z]$/;
export const ZONE_MAX_LENGTH = 22;

/** Racks are names of up to 64 letters, digits and . _ : -; the default is the zone's `-rack-1`. */
export const RACK_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
export const RACK_MAX_LENGTH = 64;

/**
 * The bytes of one page of a list, as well as its items: a page stops early, with a cursor,
 * when its rows reach this many bytes, so that a page of the largest instances (50 tags at
 * the longest keys and values, about 20 KB each) is about 50 of them, not 1,000.
 */
export const PAGE_MAX_BYTES = 1024 * 1024;

// Control characters are refused in tags: JSON writes each as six bytes, which would make
// the largest record three times larger than its characters.
const CONTROL = /\p{Cc}/u;

export function checkZone(field: string, zone: string): void {
  if (zone.length > ZONE_MAX_LENGTH || !ZONE_PATTERN.test(zone)) {
    throw invalidParameter(field, `must look like us-east-1a (at most ${ZONE_MAX_LENGTH} characters)`);
  }
}

export function checkRack(field: string, rack: string): void {
  if (!RACK_PATTERN.test(rack)) {
    throw invalidParameter(
      field,
      `must be 1 to ${RACK_MAX_LENGTH} letters, digits and . _ : - (starting with a letter or digit)`,
    );
  }
}

export function checkTags(field: string, tags: Record<string, string>): void {
  const entries = Object.entries(tags);
  if (entries.length > MAX_TAGS) throw invalidParameter(field, `at most ${MAX_TAGS} tags`);
  for (const [key, value] of entries) {
    if (key.length < 1 || key.length > TAG_KEY_MAX_LENGTH) {
      throw invalidParameter(field, `a key must be 1 to ${TAG_KEY_MAX_LENGTH} characters`);
    }
    if (typeof value !== "string" || value.length > TAG_VALUE_MAX_LENGTH) {
      throw invalidParameter(
        `${field}.${key}`,
        `must be a string of at most ${TAG_VALUE_MAX_LENGTH} characters`,
      );
    }
    if (CONTROL.test(key) || CONTROL.test(value)) {
      throw invalidParameter(`${field}.${key}`, "must not contain control characters");
    }
  }
}

export function checkClientToken(field: string, token: string): void {
  if (!CLIENT_TOKEN_PATTERN.test(token)) {
    throw invalidParameter(field, `must be 1 to ${CLIENT_TOKEN_MAX_LENGTH} printable ASCII characters`);
  }
}

const utf8 = new TextEncoder();

/** Refuses a launch of `count` instances whose records would pass LAUNCH_MAX_BYTES. */
export function checkLaunchBytes(field: string, count: number, tags: Record<string, string>): void {
  const tagBytes = utf8.encode(JSON.stringify(tags)).length;
  const fits = Math.floor(LAUNCH_MAX_BYTES / (tagBytes + RECORD_BYTES));
  if (count > fits) {
    throw invalidParameter(
      field,
      `a launch whose tags take ${tagBytes} bytes may carry at most ${fits} instances (${LAUNCH_MAX_BYTES} bytes of records)`,
    );
  }
}

export function checkHostCount(field: string, count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > MAX_HOSTS_PER_REQUEST) {
    throw invalidParameter(field, `must be an integer from 1 to ${MAX_HOSTS_PER_REQUEST}`);
  }
}

export function checkReconcileHosts(field: string, count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > MAX_RECONCILE_HOSTS) {
    throw invalidParameter(field, `must be an integer from 1 to ${MAX_RECONCILE_HOSTS}`);
  }
}

export function checkLaunchCount(field: string, count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > MAX_LAUNCH_COUNT) {
    throw invalidParameter(field, `must be an integer from 1 to ${MAX_LAUNCH_COUNT}`);
  }
}

// ---- subscriptions, alarms, metrics ----

/** Webhook subscriptions per account (Svix and Stripe allow a few dozen endpoints). */
export const MAX_SUBSCRIPTIONS_PER_ACCOUNT = 20;
/** A receiver's URL, as browsers and proxies commonly take them. */
export const URL_MAX_LENGTH = 2048;
/** Event type patterns, and resource ids, one subscription may name. */
export const MAX_SUBSCRIPTION_TYPES = 20;
export const MAX_SUBSCRIPTION_RESOURCES = 20;
/** How long a rotated secret may keep signing beside the new one: 0 s to 7 days (default 24 h). */
export const ROTATION_GRACE_MAX_SECONDS = 7 * 24 * 3600;
export const ROTATION_GRACE_DEFAULT_SECONDS = 24 * 3600;
/** How much of a receiver's answer an attempt keeps. */
export const RESPONSE_EXCERPT_CHARS = 512;
/** The most of a receiver's body an attempt reads: enough for the excerpt in any UTF-8 (4 bytes a character). */
export const RESPONSE_EXCERPT_BYTES = 4 * RESPONSE_EXCERPT_CHARS;

/** CloudWatch's limits for one GetMetricStatistics: 1,440 datapoints, 10 extended statistics. */
export const MAX_DATAPOINTS = 1440;
export const MAX_EXTENDED_STATISTICS = 10;
/** Samples read for percentiles in one request; a wider request is refused, naming the limit. */
export const MAX_PERCENTILE_SAMPLES = 100_000;
/** Alarms per account; CloudWatch's PutMetricAlarm takes names up to 255 characters. */
export const MAX_ALARMS_PER_ACCOUNT = 100;
export const ALARM_NAME_MAX_LENGTH = 255;
/**
 * CloudWatch's PutMetricAlarm: period × evaluation periods may not pass seven days, nor one day
 * for periods shorter than an hour.
 */
export const ALARM_WINDOW_MAX_SECONDS = 604_800;
export const ALARM_SHORT_WINDOW_MAX_SECONDS = 86_400;

/** The SSE stream: how long one connection lasts at most, how often it looks for new events, and how many it sends at once. */
export const EVENT_STREAM_MAX_SECONDS = 300;
export const EVENT_STREAM_POLL_MS = 1000;
export const EVENT_STREAM_BATCH = 100;
// ---- Block storage and shared file systems ----

/** A KMS key id (a UUID) or a key ARN, as EBS's KmsKeyId takes them. */
export const KMS_KEY_ID_PATTERN =
  /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|arn:aws:kms:[a-z0-9-]{1,32}:\d{12}:key\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
export const KMS_KEY_ID_MAX_LENGTH = 128;

/** Volumes and snapshots in one list page. */
export const STORAGE_PAGE_MAX = 200;

/** A file of a shared file system: paths like /dir/name, 1 to 256 characters; contents up to 32 KiB. */
export const FILE_PATH_MAX_LENGTH = 256;
export const FILE_PATH_PATTERN = /^(\/[A-Za-z0-9._-]{1,64}){1,8}$/;
export const FILE_MAX_BYTES = 32 * 1024;
/** Files listed at most in one answer. */
export const FILES_LISTED_MAX = 1000;
/** File system names: printable ASCII. */
export const FS_NAME_MAX_LENGTH = 64;

/** Live migration (POST /v1/instances/{id}/migrate): a rate limit from 1 Mbit/s to 400 Gbit/s... */
export const MIGRATION_BANDWIDTH_MBPS = { min: 1, max: 400_000 } as const;
/** ...a downtime limit up to a minute (QEMU takes up to 2000 s; a minute is already no live migration)... */
export const MIGRATION_DOWNTIME_LIMIT_MS = { min: 1, max: 60_000 } as const;
/** ...and a guest's stated writes up to a billion page writes a second. */
export const MIGRATION_PAGE_WRITES_MAX = 1e9;
/** A page of migrations. */
export const MIGRATION_PAGE_MAX = 100;
/**
 * Access keys for the EC2 Query API an account may ever have, inactive ones included. IAM
 * allows two per user; an account here holds several users' keys, as with API keys.
 */
export const MAX_ACCESS_KEYS_PER_ACCOUNT = 100;

/**
 * The EC2 Query API's bounds of one request. `Filter.N` and the `.N` lists of ids: EC2
 * documents no count for them, but refuses request bodies that are too large; here at most
 * 25 filters (each is a clause of one D1 statement with its values as one bound parameter,
 * a tag filter two, within D1's 100 parameters), of at most 200 values each, and at most
 * 1,000 ids in one list.
 */
export const MAX_QUERY_FILTERS = 25;
export const MAX_FILTER_VALUES = 200;
export const MAX_QUERY_LIST = 1000;
/** Parameters in one Query request: a launch with 50 tags in each of 5 specifications is ~600. */
export const MAX_QUERY_PARAMS = 2000;
/**
 * DescribeInstances' MaxResults: 5 to 1,000 (Amazon EC2 API Reference, DescribeInstances);
 * without it EC2 answers everything in one page, here at most 1,000 instances.
 */
export const QUERY_MIN_RESULTS = 5;
export const QUERY_MAX_RESULTS = 1000;

/**
 * SigV4's clock-skew window: a request signed more than 15 minutes before or after the
 * server's time is RequestExpired (AWS General Reference, "Signature Version 4 signing
 * process"; Amazon EC2 API Reference, "Common client error codes": RequestExpired).
 */
export const SIGV4_SKEW_MS = 15 * 60_000;
// ---- Networking. EC2's default quotas (Amazon VPC user guide, "Amazon VPC quotas"): 5 VPCs
// per Region, 200 subnets per VPC, 2,500 security groups per Region, 60 inbound and 60
// outbound rules per group, 5 groups per network interface, 50 active peerings per VPC.
export const MAX_VPCS_PER_ACCOUNT = 5;
export const MAX_SUBNETS_PER_VPC = 200;
export const MAX_SECURITY_GROUPS_PER_ACCOUNT = 2500;
export const MAX_RULES_PER_DIRECTION = 60;
export const MAX_GROUPS_PER_INTERFACE = 5;
export const MAX_PEERINGS_PER_VPC = 50;
/**
 * Network ACLs (Amazon VPC user guide, "Amazon VPC quotas", "Network ACLs"): 200 per VPC, 20
 * rules each way by default; rule numbers 1 to 32766 (sim/network/network-acl.ts).
 */
export const MAX_NETWORK_ACLS_PER_VPC = 200;
export const MAX_NACL_RULES_PER_DIRECTION = 20;
/**
 * Placement groups (EC2 user guide, "Placement group rules and limitations"): 500 per account
 * in a Region, names of up to 255 ASCII characters, unique in the account.
 */
export const MAX_PLACEMENT_GROUPS_PER_ACCOUNT = 500;
export const PLACEMENT_GROUP_NAME_MAX_LENGTH = 255;
/** Rules one request may add. */
export const MAX_RULES_PER_REQUEST = 20;
/** Security group names and descriptions: up to 255 characters, as EC2's. */
export const SG_NAME_MAX_LENGTH = 255;
export const SG_DESCRIPTION_MAX_LENGTH = 255;
/** One send's bytes: up to 1 TiB; the model prices it in closed form, so size costs nothing to compute. */
export const MAX_SEND_BYTES = 2 ** 40;
/**
 * An attestation nonce: 16 to 512 bytes, hex-encoded. The Nitro Security Module takes a nonce of up
 * to 512 bytes (AWS Nitro Enclaves User Guide, "Attestation document"); fewer than 16 is guessable.
 */
export const NONCE_MIN_HEX = 32;
export const NONCE_MAX_HEX = 1024;
export const NONCE_PATTERN = /^([0-9a-f]{2})+$/;

/** A guest data read or write: at most one 4 KiB page, and the base64 text of that many bytes. */
export const GUEST_DATA_MAX_BYTES = 4096;
export const GUEST_DATA_MAX_BASE64 = Math.ceil(GUEST_DATA_MAX_BYTES / 3) * 4;

/** Entries in the boot allow-list: every stage of every build the fleet runs, with room for rollouts. */
export const ALLOW_LIST_MAX = 256;

/**
 * A volume load run: I/Os of whole 4 KiB blocks up to 1 MiB (st1's largest single operation; an SSD
 * volume counts one past 256 KiB as several), and at most a million of them, enough to drain the
 * smallest st1 volume's burst bucket (125 GiB of credits spent at about 26 MiB/s net: ~152,000 I/Os of
 * 1 MiB) several times over while the host's loop stays well under a second.
 */
export const LOAD_IO_MAX_KIB = 1024;
export const LOAD_IOS_MAX = 1_000_000;

/** AllocateHosts' Quantity, per call: a small bound of this fleet's own (EC2's is the account's quota). */
export const DEDICATED_HOSTS_PER_CALL_MAX = 16;
/** DescribeHosts' MaxResults: 5 to 500 (Amazon EC2 API Reference, DescribeHosts). */
export const DEDICATED_HOSTS_PAGE_MAX = 500;
